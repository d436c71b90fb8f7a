-- Search moves into an in-memory index in the product role (issue #16; README Decisions, "Search
-- in an embedded index"). The index follows the catalog through `product_changes`: one row per
-- product written, by a trigger on `products`, with the id of the writing transaction. Every
-- write goes through `products` (`product_refresh` bumps the version in the write's own
-- transaction; deletes delete the row), so the trigger sees all of them. A reader keeps the
-- snapshot's xmin as its watermark and re-reads the products of every change at or above it:
-- a transaction still in flight then is read again next time, so no commit is missed whatever
-- order transactions commit in. Rows older than ten minutes are pruned by the product role.
CREATE TABLE product_changes (
    product_id uuid        NOT NULL,
    xid        xid8        NOT NULL DEFAULT pg_current_xact_id(),
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX product_changes_by_xid ON product_changes (xid);
CREATE INDEX product_changes_by_at ON product_changes (at);

CREATE FUNCTION product_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO product_changes (product_id)
    VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END);
    RETURN NULL;
END
$$;

CREATE TRIGGER products_changed AFTER INSERT OR UPDATE OR DELETE ON products
    FOR EACH ROW EXECUTE FUNCTION product_changed();

-- The full-text document and the trigram index served the SQL search only.
DROP INDEX products_search;
DROP INDEX products_name_trgm;
ALTER TABLE products DROP COLUMN search;

CREATE OR REPLACE FUNCTION product_refresh(p_id uuid) RETURNS bigint LANGUAGE sql AS $$
    UPDATE products p SET
        min_price = (SELECT min(v.price) FROM product_variants v WHERE v.product_id = p.id),
        max_price = (SELECT max(v.price) FROM product_variants v WHERE v.product_id = p.id),
        currency = (SELECT min(v.currency) FROM product_variants v WHERE v.product_id = p.id),
        attribute_values = ARRAY(
            SELECT DISTINCT a.key || '=' || a.value
              FROM product_variants v CROSS JOIN LATERAL jsonb_each_text(v.attributes) a
             WHERE v.product_id = p.id),
        version = p.version + 1,
        updated_at = now()
    WHERE p.id = p_id
    RETURNING p.version;
$$;
