/**
 * The demo page `npm start` serves at /demo: a pretend shop that embeds the demo site's widget with the
 * very snippet the sites API gives (GET /api/v1/sites/{id}/embed), so anyone can try the chat against
 * the local server and answer on /operator.
 */

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const texts = {
  ru: {
    title: 'Чайная лавка «Самовар» — демо omnitalk',
    shop: 'Чайная лавка «Самовар»',
    tagline: 'Демо-страница: магазина нет, а чат — настоящий.',
    how: 'Как попробовать',
    steps: [
      'Нажмите на кнопку чата в правом нижнем углу и напишите что-нибудь.',
      'Откройте <a href="/operator" target="_blank" rel="noopener">страницу оператора</a> в другой вкладке или браузере и войдите: логин и пароль демо-аккаунта печатает <code>npm start</code> в консоли.',
      'Отвечайте, смотрите, как печатает собеседник и когда сообщение прочитано; перезагрузите эту страницу — диалог останется.',
      'Оставьте телефон или email через кнопку ☎ в чате — контакт появится в карточке посетителя.',
    ],
    snippet: 'Код для вставки на сайт',
    products: [
      ['Да Хун Пао', 'Утёсный улун с нотами карамели', '1 250 ₽'],
      ['Сенча', 'Японский зелёный чай первого сбора', '890 ₽'],
      ['Иван-чай', 'Ферментированный, с чабрецом', '420 ₽'],
    ],
    buy: 'В корзину',
    other: 'English version',
    otherHref: '/demo?lang=en',
  },
  en: {
    title: 'Samovar tea shop — omnitalk demo',
    shop: 'Samovar tea shop',
    tagline: 'A demo page: the shop is pretend, the chat is real.',
    how: 'How to try it',
    steps: [
      'Click the chat button in the bottom right corner and write something.',
      'Open the <a href="/operator" target="_blank" rel="noopener">operator page</a> in another tab or browser and sign in with the demo login and password <code>npm start</code> printed.',
      'Answer, watch the typing indicator and read marks; reload this page — the dialog stays.',
      'Leave a phone or an email with the ☎ button in the chat — the contact shows on the visitor card.',
    ],
    snippet: 'The snippet for your site',
    products: [
      ['Da Hong Pao', 'Rock oolong with caramel notes', '1,250 ₽'],
      ['Sencha', 'Japanese first-flush green tea', '890 ₽'],
      ['Ivan chai', 'Fermented fireweed with thyme', '420 ₽'],
    ],
    buy: 'Add to cart',
    other: 'Русская версия',
    otherHref: '/demo',
  },
} as const;

export function demoPage({ lang, snippet }: { lang: 'ru' | 'en'; snippet: string }): string {
  const t = texts[lang];
  const products = t.products
    .map(
      ([name, about, price]) =>
        `<article><div class="pic" aria-hidden="true">${name.slice(0, 1)}</div><h3>${name}</h3><p>${about}</p><p class="price">${price}</p><button type="button">${t.buy}</button></article>`,
    )
    .join('');
  return `<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${t.title}</title>
<link rel="icon" href="data:,">
<style>
body{margin:0;font-family:Georgia,serif;background:#fbf7f0;color:#2b2118}
header{background:#6b3e26;color:#fff;padding:28px 24px}
header h1{margin:0 0 6px;font-size:30px}
header a{color:#ffd9a8;float:right;font-family:system-ui,sans-serif;font-size:14px}
main{max-width:960px;margin:0 auto;padding:24px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:16px}
article{background:#fff;border:1px solid #e6dccb;border-radius:12px;padding:16px}
.pic{width:72px;height:72px;margin:0 auto;border-radius:50%;background:#e9d8bd;color:#6b3e26;font-size:36px;line-height:72px;text-align:center}
.price{font-weight:bold;font-size:18px}
article button{background:#6b3e26;color:#fff;border:0;border-radius:8px;padding:8px 14px;cursor:pointer}
section.how{font-family:system-ui,sans-serif;background:#fff;border:1px dashed #c9b89c;border-radius:12px;padding:16px 20px;margin:24px 0}
pre{white-space:pre-wrap;word-break:break-all;background:#2b2118;color:#f5e6cc;padding:12px;border-radius:8px;font-size:12px}
</style>
</head>
<body>
<header><a href="${t.otherHref}">${t.other}</a><h1>${t.shop}</h1><div>${t.tagline}</div></header>
<main>
<div class="grid">${products}</div>
<section class="how">
<h2>${t.how}</h2>
<ol>${t.steps.map((s) => `<li>${s}</li>`).join('')}</ol>
<h3>${t.snippet}</h3>
<pre id="snippet">${escapeHtml(snippet)}</pre>
</section>
</main>
${snippet}
</body>
</html>
`;
}

export function demoUnavailablePage(): string {
  return `<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><title>omnitalk — демо выключено</title></head>
<body style="font-family:system-ui,sans-serif;max-width:640px;margin:40px auto">
<h1>Демо-страница недоступна</h1>
<p>На этом сервере нет демо-аккаунта (он создаётся при <code>npm start</code>, если не задано <code>OMNITALK_DEMO=0</code>).</p>
<p lang="en">There is no demo account on this server (it is created by <code>npm start</code> unless <code>OMNITALK_DEMO=0</code>).</p>
</body></html>
`;
}
