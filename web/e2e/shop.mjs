// The shop in a real browser (playwright-core driving Debian's chromium): a guest browses,
// searches with a typo, filters by a facet, adds two items, sees shipping and VAT estimated for
// Germany, signs up (the cart comes along), picks express shipping and a promotion code, pays
// with the sandbox card and sees `paid` with the total the checkout showed; a declined card
// shows why; the account lists the orders. A screenshot of each step goes to the output folder.
//
// Usage: SHOP_URL=http://127.0.0.1:5173 E2E_OUTPUT=/tmp/shots node e2e/shop.mjs
//   CHROMIUM  the browser (default /usr/bin/chromium; scripts/test.sh installs it)
//   E2E_TIMEOUT_MS  bound on the whole run (default 150000)
// The catalog must hold the products tests/tests/it/web.rs creates (see PRODUCTS there), and the
// shop its shipping, tax and promotion set-up (see make_checkout_rules there): Standard (4.90
// EUR, free over 50) and Express (9.90) to DE, 19% VAT in prices, the code WELCOME10 (10% off).

import { mkdirSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const shop = process.env.SHOP_URL ?? 'http://127.0.0.1:5173';
const out = resolve(process.env.E2E_OUTPUT ?? 'e2e-output');
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const overall = Number(process.env.E2E_TIMEOUT_MS ?? 150_000);

if (!existsSync(executablePath)) {
  console.error(`chromium not found at ${executablePath}: scripts/test.sh installs it (the "web" step), or apt-get install chromium`);
  process.exit(2);
}
mkdirSync(out, { recursive: true });

const watchdog = setTimeout(() => {
  console.error(`browser test took longer than ${overall} ms`);
  process.exit(1);
}, overall);

const log = (...a) => console.log(`[e2e ${new Date().toISOString().slice(11, 19)}]`, ...a);
let shotNo = 0;
async function shot(page, name) {
  const file = join(out, `${String(++shotNo).padStart(2, '0')}-${name}.png`);
  // A sticky header would be drawn mid-page in a full-page capture.
  await page.addStyleTag({ content: '.site-header, .summary { position: static !important; }' });
  await page.screenshot({ path: file, fullPage: true });
  log('screenshot', file);
}

/** A screenshot of one element (its box only). */
async function shotOf(locator, name) {
  const file = join(out, `${String(++shotNo).padStart(2, '0')}-${name}.png`);
  await locator.screenshot({ path: file });
  log('screenshot', file);
}

/** Minor units of a formatted amount such as "€99.88" or "−€10.00" (sign dropped). */
function cents(text) {
  const digits = (text ?? '').replace(/[^0-9]/g, '');
  if (!digits) throw new Error(`no amount in ${JSON.stringify(text)}`);
  return Number(digits);
}

/** Waits until `locator`'s text matches `re` (bounded). */
async function textMatches(locator, re, timeout = 15_000) {
  const deadline = Date.now() + timeout;
  let last = '';
  while (Date.now() < deadline) {
    last = (await locator.textContent({ timeout: 2_000 }).catch(() => '')) ?? '';
    if (re.test(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`expected text ${re}, last seen ${JSON.stringify(last)}`);
}

async function step(name, fn) {
  const t = Date.now();
  log('step:', name);
  await fn();
  log(`  ok (${Date.now() - t} ms)`);
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--no-first-run',
    '--disable-sync',
    '--disable-quic',
  ],
});
let failed = false;
const pageErrors = [];
const eventStatuses = [];
const apiFailures = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('response', (r) => {
    const u = new URL(r.url());
    if (u.pathname === '/api/v1/events') eventStatuses.push(r.status());
    else if (u.pathname.startsWith('/api/') && r.status() >= 500) apiFailures.push(`${r.status()} ${u.pathname}`);
  });
  const cartCount = page.getByTestId('cart-count');
  const search = async (text) => {
    const box = page.getByRole('combobox', { name: 'Search products' });
    await box.fill(text);
    return box;
  };

  await step('a guest opens the home page', async () => {
    await page.goto(shop);
    await page.getByRole('heading', { name: 'Trending now' }).waitFor();
    await shot(page, 'home');
  });

  await step('searching with a typo suggests and finds the headphones', async () => {
    const box = await search('headphnes');
    await page.getByRole('option', { name: /Wireless Headphones/ }).waitFor();
    await shot(page, 'search-suggestions');
    await box.press('Enter');
    await page.waitForURL(/\/search\?q=headphnes/);
    await textMatches(page.getByTestId('results-count'), /^2 products$/);
    await page.getByRole('link', { name: /Studio Headphones Pro/ }).waitFor();
    await shot(page, 'search-results');
  });

  await step('filtering by the brand facet narrows the results', async () => {
    // A click, not `check()`: the facet list re-renders when the filtered answer arrives, and
    // `check()` fails when the box it clicked was replaced before it could read its state. The
    // URL and the checked box of the new list say the filter took.
    await page.getByRole('checkbox', { name: /Acoustica/ }).click();
    await page.waitForURL(/brand=Acoustica/);
    await page.getByRole('checkbox', { name: /Acoustica/, checked: true }).waitFor();
    await textMatches(page.getByTestId('results-count'), /^1 product$/);
    await page.getByRole('link', { name: /Studio Headphones Pro/ }).waitFor({ state: 'detached' });
    await shot(page, 'search-filtered');
  });

  await step('the first item: a variant picked by colour goes into the cart', async () => {
    await page.getByRole('link', { name: /Wireless Headphones/ }).click();
    await page.getByRole('heading', { level: 1, name: 'Wireless Headphones' }).waitFor();
    await page.getByRole('radio', { name: 'white' }).check();
    await textMatches(page.getByTestId('availability'), /In stock|left/);
    await page.getByRole('button', { name: 'Add to cart' }).click();
    await page.getByText('Added to your cart').waitFor();
    await textMatches(cartCount, /^1$/);
    await shot(page, 'product');
  });

  await step('the second item', async () => {
    const box = await search('travel mug');
    await box.press('Enter');
    await page.getByRole('link', { name: /Travel Mug/ }).click();
    await page.getByRole('heading', { level: 1, name: 'Travel Mug' }).waitFor();
    await textMatches(page.getByTestId('availability'), /In stock|left/);
    await page.getByRole('button', { name: 'Add to cart' }).click();
    await page.getByText('Added to your cart').waitFor();
    await textMatches(cartCount, /^2$/);
  });

  await step('the guest cart shows both lines', async () => {
    await page.getByRole('link', { name: /^Cart/ }).click();
    await page.getByRole('heading', { name: 'Your cart' }).waitFor();
    const lines = page.getByTestId('cart-line');
    await lines.nth(1).waitFor();
    if ((await lines.count()) !== 2) throw new Error(`expected 2 cart lines, got ${await lines.count()}`);
    await textMatches(page.getByTestId('cart-subtotal'), /99\.98/);
    // An estimate for Germany: Standard is free over 50 EUR, VAT is in the prices.
    await page.getByLabel('Ship to (country code)').fill('DE');
    const estimate = page.getByTestId('estimate');
    await textMatches(estimate.locator('[data-kind="shipping"]'), /Shipping \(Standard\)\s*Free/);
    await textMatches(estimate.locator('[data-kind="tax"]'), /incl\. VAT 19%/);
    await textMatches(page.getByTestId('estimate-total'), /99\.98/);
    await shot(page, 'cart');
  });

  const email = `web-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.test`;
  await step('signing up shows the API\'s field error, then merges the cart', async () => {
    await page.getByRole('link', { name: 'Sign up to check out' }).click();
    await page.getByRole('heading', { name: 'Create an account' }).waitFor();
    await page.getByLabel('Name').fill('Web Shopper');
    await page.getByLabel('E-mail').fill(email);
    await page.getByLabel('Password').fill('short');
    await page.getByRole('button', { name: 'Sign up' }).click();
    // The 422's message for `password` sits next to the password field.
    const err = page.locator('.field').filter({ has: page.getByLabel('Password') }).locator('.field-error');
    await textMatches(err, /8/);
    await shot(page, 'signup-field-error');
    await page.getByLabel('Password').fill('correct horse battery staple');
    await page.getByRole('button', { name: 'Sign up' }).click();
    await page.waitForURL(/\/checkout$/);
    await page.getByRole('heading', { name: 'Checkout' }).waitFor();
    const summary = page.getByRole('complementary', { name: 'Order summary' });
    await summary.getByText(/Wireless Headphones/).waitFor();
    await summary.getByText(/Travel Mug/).waitFor();
    await textMatches(cartCount, /^2$/);
  });

  let paidOrderUrl = '';
  await step('checking out with express shipping, a code and the sandbox card ends in paid', async () => {
    await page.getByLabel('Full name').fill('Web Shopper');
    await page.getByLabel('Address line 1').fill('12 Market Street');
    await page.getByLabel('Postal code').fill('10115');
    await page.getByLabel('City').fill('Berlin');
    await page.getByLabel('Country code').fill('DE');
    // The address asks for an estimate: both methods, the cheapest (free Standard) chosen.
    const methods = page.getByTestId('shipping-methods');
    const standard = methods.getByRole('radio', { name: /Standard/ });
    await standard.waitFor();
    await textMatches(methods, /Standard\s*Free\s*2–4 business days/);
    await textMatches(methods, /Express\s*€9\.90\s*1–2 business days/);
    if (!(await standard.isChecked())) throw new Error('the cheapest method is not preselected');
    const summary = page.getByRole('complementary', { name: 'Order summary' });
    await textMatches(summary.locator('[data-kind="shipping"]'), /Shipping \(Standard\)\s*Free/);

    await methods.getByRole('radio', { name: /Express/ }).check();
    await textMatches(summary.locator('[data-kind="shipping"]'), /Shipping \(Express\)\s*€9\.90/);

    await page.getByLabel('Promotion code').fill('welcome10');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByRole('status').filter({ hasText: /WELCOME10 applied/ }).waitFor();
    await textMatches(summary.locator('[data-kind="discount"]'), /Discount \(WELCOME10\)\s*−€10\.00/);
    await textMatches(summary.locator('[data-kind="tax"]'), /incl\. VAT 19%\s*€\d/);
    // VAT is in the prices: subtotal − discount + shipping is the total.
    const subtotal = cents(await page.getByTestId('checkout-subtotal').textContent());
    const discount = cents(await summary.locator('[data-kind="discount"] dd').textContent());
    const shipping = cents(await summary.locator('[data-kind="shipping"] dd').textContent());
    const totalText = (await page.getByTestId('checkout-total').textContent())?.trim() ?? '';
    if (subtotal !== 9998 || shipping !== 990 || cents(totalText) !== subtotal - discount + shipping) {
      throw new Error(`the summary does not add up: ${subtotal} − ${discount} + ${shipping} ≠ ${totalText}`);
    }

    await page.getByRole('button', { name: 'Use card 4242424242424242' }).click();
    await shot(page, 'checkout');
    await shotOf(summary, 'checkout-summary');
    await page.getByRole('button', { name: 'Place order' }).click();
    await page.waitForURL(/\/orders\//, { timeout: 30_000 });
    paidOrderUrl = page.url();
    // The order charges what the checkout showed, with the same breakdown.
    await textMatches(page.getByTestId('order-total'), new RegExp(`^${totalText.replace(/[.$]/g, '\\$&')}$`));
    await textMatches(page.locator('[data-testid="order"] [data-kind="discount"]'), /Discount \(WELCOME10\)/);
    await textMatches(page.locator('[data-testid="order"] [data-kind="shipping"]'), /Shipping \(Express\)\s*€9\.90/);
    await textMatches(page.locator('[data-testid="order"] [data-kind="tax"]'), /incl\. VAT 19%/);
    await page.locator('[data-testid="order-status"][data-status="paid"]').waitFor({ timeout: 90_000 });
    await textMatches(page.getByTestId('order-status'), /Payment received/);
    await shot(page, 'order-paid');
  });

  await step('a declined card cancels the order and says why', async () => {
    const box = await search('espresso');
    await box.press('Enter');
    await page.getByRole('link', { name: /Espresso Cups/ }).click();
    await page.getByRole('heading', { level: 1, name: 'Espresso Cups' }).waitFor();
    await textMatches(page.getByTestId('availability'), /In stock|left/);
    await page.getByRole('button', { name: 'Add to cart' }).click();
    await page.getByText('Added to your cart').waitFor();
    await page.goto(new URL('/checkout', shop).toString());
    await page.getByRole('heading', { name: 'Checkout' }).waitFor();
    // The address saved at the first checkout is chosen; pay with a new, declined card.
    await page.getByRole('radio', { name: /12 Market Street/ }).waitFor();
    // Its country prices shipping at once: 24.99 EUR ships with Standard for 4.90.
    await textMatches(page.getByTestId('checkout-total'), /29\.89/);
    await page.getByRole('radio', { name: 'A new card' }).check();
    await page.getByRole('button', { name: 'Use card 4000000000000002' }).click();
    await page.getByRole('button', { name: 'Place order' }).click();
    await page.waitForURL((u) => u.pathname.startsWith('/orders/') && u.toString() !== paidOrderUrl, { timeout: 30_000 });
    await page.locator('[data-testid="order-status"][data-status="cancelled"]').waitFor({ timeout: 90_000 });
    await textMatches(page.getByTestId('order-status'), /declined/);
    await shot(page, 'order-declined');
  });

  await step('the account page lists both orders', async () => {
    await page.getByRole('link', { name: 'Account' }).click();
    await page.getByRole('heading', { name: 'Your account' }).waitFor();
    await page.locator('[data-testid="order-row"][data-status="paid"]').waitFor();
    await page.locator('[data-testid="order-row"][data-status="cancelled"]').waitFor();
    const rows = await page.getByTestId('order-row').count();
    if (rows !== 2) throw new Error(`expected 2 orders on the account page, got ${rows}`);
    await shot(page, 'account');
  });

  await step('the shop works on a phone-sized screen', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const p = await phone.newPage();
    p.on('pageerror', (e) => pageErrors.push(String(e)));
    await p.goto(new URL('/search?q=headphones', shop).toString());
    await p.getByRole('link', { name: /Wireless Headphones/ }).waitFor();
    // The filters fold away on a small screen and open on demand.
    await p.getByRole('button', { name: 'Show filters' }).click();
    await p.getByRole('checkbox', { name: /Acoustica/ }).waitFor();
    await shot(p, 'phone-search');
    await phone.close();
  });

  await step('tracking events reached the API', async () => {
    // Leaving the page flushes what is queued.
    await page.goto('about:blank');
    const deadline = Date.now() + 10_000;
    while (!eventStatuses.includes(202) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (!eventStatuses.includes(202)) throw new Error(`no event batch was accepted: ${JSON.stringify(eventStatuses)}`);
    const bad = eventStatuses.filter((s) => s !== 202);
    if (bad.length) throw new Error(`event batches refused: ${JSON.stringify(eventStatuses)}`);
  });

  if (pageErrors.length) throw new Error(`uncaught errors in the page:\n${pageErrors.join('\n')}`);
  log('all steps passed; screenshots in', out);
} catch (e) {
  failed = true;
  console.error('browser test failed:', e?.stack ?? e);
  if (apiFailures.length) console.error('API 5xx answers seen:', apiFailures.join(', '));
  if (pageErrors.length) console.error('page errors:', pageErrors.join('\n'));
  try {
    const pages = browser.contexts().flatMap((c) => c.pages());
    const last = pages[0];
    if (last) {
      await last.screenshot({ path: join(out, 'failure.png'), fullPage: true });
      console.error('failure screenshot:', join(out, 'failure.png'), 'at', last.url());
    }
  } catch {
    // Nothing more to show.
  }
} finally {
  await browser.close().catch(() => {});
  clearTimeout(watchdog);
}
process.exit(failed ? 1 : 0);
