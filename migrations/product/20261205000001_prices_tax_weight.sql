-- Checkout totals (issue #13), the catalog's part: a price per currency for each variant, a tax
-- category per product and a shipping weight per variant.
--
-- `product_variants.price/currency` stay the primary price (listings, search, price filters and
-- facets use them, and `product_refresh` derives the price range from them). `variant_prices`
-- holds every price a variant is sold at, the primary one included: the service writes both in
-- the same transaction on every variant write, so the primary row never differs from the column.
CREATE TABLE variant_prices (
    variant_id uuid   NOT NULL REFERENCES product_variants (id) ON DELETE CASCADE,
    currency   text   NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount     bigint NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (variant_id, currency)
);

-- Existing variants keep exactly the price they had, as their only price.
INSERT INTO variant_prices (variant_id, currency, amount)
SELECT id, currency, price FROM product_variants;

-- The order service looks the rate up by destination and category.
ALTER TABLE products
    ADD COLUMN tax_category text NOT NULL DEFAULT 'standard'
        CONSTRAINT products_tax_category_check
        CHECK (tax_category IN ('standard', 'reduced', 'zero'));

-- Grams per unit; 0 means unknown or weightless. Shipping by weight adds these up.
ALTER TABLE product_variants
    ADD COLUMN weight_grams integer NOT NULL DEFAULT 0
        CONSTRAINT product_variants_weight_grams_check
        CHECK (weight_grams BETWEEN 0 AND 1000000);

-- Every product gained fields, so every cached copy (`cache:product:{id}`) is out of date: a
-- higher version lets the first reader replace it (the cache keeps only newer versions).
UPDATE products SET version = version + 1;
