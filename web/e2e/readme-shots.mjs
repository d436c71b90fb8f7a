// Takes the README's screenshots (web/docs/home.png, web/docs/checkout.png) from a running
// platform with the demo catalog (`storefront up` seeds it) serving the shop.
//
// Usage: SHOP_URL=http://127.0.0.1:5173 node e2e/readme-shots.mjs

import { chromium } from 'playwright-core';

const shop = process.env.SHOP_URL ?? 'http://127.0.0.1:5173';
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 860 } });
  page.setDefaultTimeout(20_000);
  await page.goto(shop);
  const cards = page.getByTestId('product-card');
  await cards.nth(3).waitFor();
  await page.waitForLoadState('networkidle');
  await page.screenshot({ path: 'docs/home.png' });

  for (const i of [0, 2]) {
    await page.goto(shop);
    await cards.nth(i).click();
    await page.getByRole('button', { name: 'Add to cart' }).click();
    await page.getByText('Added to your cart').waitFor();
  }
  await page.goto(new URL('/register?next=/checkout', shop).toString());
  await page.getByLabel('Name').fill('Ada Lovelace');
  await page.getByLabel('E-mail').fill(`ada-${Date.now()}@example.test`);
  await page.getByLabel('Password').fill('correct horse battery staple');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByRole('heading', { name: 'Checkout' }).waitFor();
  await page.getByLabel('Full name').fill('Ada Lovelace');
  await page.getByLabel('Address line 1').fill('12 Market Street');
  await page.getByLabel('Postal code').fill('10115');
  await page.getByLabel('City').fill('Berlin');
  await page.getByLabel('Country code').fill('DE');
  // The summary priced for Germany: express shipping and the demo's first-order code.
  await page.getByRole('radio', { name: /Express/ }).check();
  await page.getByLabel('Promotion code').fill('WELCOME10');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.getByRole('status').filter({ hasText: /WELCOME10 applied/ }).waitFor();
  await page.getByRole('button', { name: 'Use card 4242424242424242' }).click();
  await page.getByRole('button', { name: 'Place order' }).and(page.locator(':enabled')).waitFor();
  await page.addStyleTag({ content: '.site-header { position: static; } .summary { position: static; }' });
  await page.screenshot({ path: 'docs/checkout.png', fullPage: true });
  console.log('wrote docs/home.png and docs/checkout.png');
} finally {
  await browser.close();
}
