// The product page's variant picker: attribute names and values across a product's variants,
// and which variant (if any) a choice of values names.

export interface VariantLike {
  sku: string;
  attributes: Record<string, string>;
  in_stock: boolean;
}

/** Attribute name -> its distinct values, in first-seen order. */
export function attributeOptions(variants: readonly VariantLike[]): [string, string[]][] {
  const out = new Map<string, string[]>();
  for (const v of variants) {
    for (const [name, value] of Object.entries(v.attributes)) {
      const vals = out.get(name) ?? [];
      if (!vals.includes(value)) vals.push(value);
      out.set(name, vals);
    }
  }
  return [...out.entries()];
}

/** The variant whose attributes equal `choice` on every attribute the product has. */
export function findVariant<V extends VariantLike>(
  variants: readonly V[],
  choice: Record<string, string>,
): V | undefined {
  return variants.find((v) =>
    Object.entries(v.attributes).every(([name, value]) => choice[name] === value),
  );
}

/** The first variant in stock (else the first), as the initial choice. */
export function initialChoice(variants: readonly VariantLike[]): Record<string, string> {
  const v = variants.find((x) => x.in_stock) ?? variants[0];
  return v ? { ...v.attributes } : {};
}

/** Whether choosing `value` for `name` (others as chosen) names an existing variant. */
export function isSelectable(
  variants: readonly VariantLike[],
  choice: Record<string, string>,
  name: string,
  value: string,
): boolean {
  return findVariant(variants, { ...choice, [name]: value }) !== undefined;
}

/** The choice after picking `value` for `name`: the variant with that value that keeps most of
 *  the other chosen values (so a picked colour never leads to "no such variant"). */
export function choose(
  variants: readonly VariantLike[],
  choice: Record<string, string>,
  name: string,
  value: string,
): Record<string, string> {
  const wanted = { ...choice, [name]: value };
  if (findVariant(variants, wanted)) return wanted;
  let best: VariantLike | undefined;
  let bestScore = -1;
  for (const v of variants) {
    if (v.attributes[name] !== value) continue;
    const score = Object.entries(v.attributes).filter(([n, x]) => wanted[n] === x).length;
    if (score > bestScore) {
      best = v;
      bestScore = score;
    }
  }
  return best ? { ...best.attributes } : wanted;
}
