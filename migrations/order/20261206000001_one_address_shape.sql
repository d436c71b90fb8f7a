-- One address shape (issue #12): orders keep their shipping address in the shape of the address
-- book (`recipient_name`, `address_lines`, `locality`, `administrative_area`, `postal_code`,
-- `country_code`, `organization`, `phone`; empty strings for absent parts). Orders placed before
-- kept `name`, `line1`, `line2`, `city`, `region`, `postal_code`, `country`, `phone`.
UPDATE orders
SET shipping_address = jsonb_build_object(
        'recipient_name', coalesce(shipping_address->>'name', ''),
        'organization', '',
        'address_lines', CASE
            WHEN coalesce(shipping_address->>'line2', '') = ''
                THEN jsonb_build_array(coalesce(shipping_address->>'line1', ''))
            ELSE jsonb_build_array(coalesce(shipping_address->>'line1', ''), shipping_address->>'line2')
        END,
        'locality', coalesce(shipping_address->>'city', ''),
        'administrative_area', coalesce(shipping_address->>'region', ''),
        'postal_code', coalesce(shipping_address->>'postal_code', ''),
        'country_code', coalesce(shipping_address->>'country', ''),
        'phone', coalesce(shipping_address->>'phone', ''))
WHERE shipping_address ? 'line1';
