import { h } from '../../../widget/src/dom.ts';
import { ApiError, type Auth, api, type Me } from './api.ts';
import { OperatorApp } from './app.ts';

/**
 * Entry of the plain operator page: signs in (the session cookie of a password login, or a pasted API
 * token kept for this tab only) and starts the operator app.
 */

const TOKEN_KEY = 'omnitalk:operator:token';
const USER_KEY = 'omnitalk:operator:user-id';
const root = document.getElementById('app')!;

function tabStorage(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

async function whoAmI(auth: Auth): Promise<Me | null> {
  try {
    return await api<Me>(auth, 'GET', '/api/v1/me');
  } catch {
    return null;
  }
}

function start(auth: Auth, me: Me): void {
  root.replaceChildren();
  const app = new OperatorApp(root, auth, me, async () => {
    app.stop();
    const store = tabStorage();
    store?.removeItem(TOKEN_KEY);
    store?.removeItem(USER_KEY);
    if (!auth.token) await api(auth, 'POST', '/api/v1/auth/logout').catch(() => {});
    showLogin();
  });
}

function showLogin(message = ''): void {
  const error = h('div', { class: 'err', role: 'alert', 'data-role': 'login-error', text: message });
  const email = h('input', { name: 'email', type: 'email', autocomplete: 'username', required: true });
  const password = h('input', {
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
  });
  const form = h(
    'form',
    { class: 'login', 'data-role': 'login' },
    h('h1', { text: 'Вход для операторов' }),
    h('label', {}, 'Email', h('br'), email),
    h('label', {}, 'Пароль', h('br'), password),
    h('button', { class: 'primary', type: 'submit', text: 'Войти' }),
    error,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    try {
      await api({ token: null, userId: null }, 'POST', '/api/v1/auth/login', {
        email: email.value.trim(),
        password: password.value,
      });
    } catch (e) {
      error.textContent =
        e instanceof ApiError && e.status === 401 ? 'Неверный email или пароль' : (e as Error).message;
      return;
    }
    const me = await whoAmI({ token: null, userId: null });
    if (me?.principal?.accountId) start({ token: null, userId: null }, me);
    else error.textContent = 'Этот пользователь не относится ни к одному аккаунту';
  });

  const token = h('input', { name: 'token', autocomplete: 'off', placeholder: 'omt_…' });
  const userId = h('input', { name: 'user_id', inputmode: 'numeric', placeholder: 'необязательно' });
  const tokenError = h('div', { class: 'err', role: 'alert' });
  const tokenForm = h(
    'form',
    { class: 'login', 'data-role': 'token-login' },
    h('div', { class: 'alt', text: 'Или по API-токену аккаунта (для интеграций и отладки):' }),
    h('label', {}, 'API-токен', h('br'), token),
    h('label', {}, 'ID оператора, от имени которого отвечать', h('br'), userId),
    h('button', { type: 'submit', text: 'Войти по токену' }),
    tokenError,
  );
  tokenForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const auth: Auth = {
      token: token.value.trim(),
      userId: userId.value.trim() ? Number(userId.value.trim()) : null,
    };
    if (auth.userId !== null && !Number.isInteger(auth.userId)) {
      tokenError.textContent = 'ID оператора — целое число';
      return;
    }
    const me = await whoAmI(auth);
    if (!me?.principal?.accountId) {
      tokenError.textContent = 'Токен не подходит';
      return;
    }
    const store = tabStorage();
    store?.setItem(TOKEN_KEY, auth.token!);
    if (auth.userId !== null) store?.setItem(USER_KEY, String(auth.userId));
    else store?.removeItem(USER_KEY);
    start(auth, me);
  });
  root.replaceChildren(form, tokenForm);
  email.focus();
}

async function boot(): Promise<void> {
  const store = tabStorage();
  const savedToken = store?.getItem(TOKEN_KEY);
  if (savedToken) {
    const saved = store?.getItem(USER_KEY);
    const auth: Auth = { token: savedToken, userId: saved ? Number(saved) : null };
    const me = await whoAmI(auth);
    if (me?.principal?.accountId) return start(auth, me);
  }
  const me = await whoAmI({ token: null, userId: null });
  if (me?.principal?.accountId && me.principal.userId) return start({ token: null, userId: null }, me);
  showLogin();
}

void boot();
