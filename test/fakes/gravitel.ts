import { FakeHttpServer, type FakeResponse, type RecordedRequest } from './crm-server.ts';

/**
 * A fake Gravitel cloud PBX, the "CRM → PBX" side: `POST /sys/crm_api.wcgp`, form-encoded, `cmd` and
 * `token` (ryzhak/gravitel GravitelModule.php). `accounts` answers `[{email, ext, name, realName}]`,
 * `makeCall` an empty body, `subscribeOnCalls` "OK" (README.md), `history` CSV rows.
 * Assumption: a wrong token answers 401 with the text "Invalid token" (the PBX's error format is not
 * documented in the sources read).
 */

export class GravitelFake {
  readonly token = 'gravitel-token-7f3a';
  readonly accounts = [
    { email: 'alex@example.com', ext: '703', name: 'alexey', realName: 'Alexey' },
    { email: 'folodia@example.com', ext: '701', name: 'admin', realName: 'Администратор' },
    { ext: '702', name: 'ivan', realName: 'Иван' },
  ];
  /** Calls ordered with makeCall, as the PBX would dial them. */
  readonly calls: { phone: string; user: string }[] = [];

  private constructor(readonly server: FakeHttpServer) {}

  static async start(): Promise<GravitelFake> {
    const server = await FakeHttpServer.start(() => ({ status: 500 }));
    const fake = new GravitelFake(server);
    server.setHandler((r) => fake.#handle(r));
    return fake;
  }

  get url(): string {
    return this.server.url;
  }

  #handle(r: RecordedRequest): FakeResponse {
    if (r.path !== '/sys/crm_api.wcgp' || r.method !== 'POST') return { status: 404, body: 'Not found' };
    const f = r.form;
    if (f.get('token') !== this.token) return { status: 401, body: 'Invalid token' };
    switch (f.get('cmd')) {
      case 'accounts':
        return {
          status: 200,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(this.accounts),
        };
      case 'makeCall': {
        const phone = f.get('phone') ?? '';
        const user = f.get('user') ?? '';
        const known = this.accounts.some((a) => a.name === user || a.ext === user) || /^\d{10,}$/.test(user);
        if (!/^\d{10,15}$/.test(phone) || !known) return { status: 400, body: 'Invalid parameters' };
        this.calls.push({ phone, user });
        return { status: 200, body: '' };
      }
      case 'subscribeOnCalls':
        return { status: 200, body: 'OK' };
      case 'history':
        return {
          status: 200,
          headers: { 'content-type': 'text/csv' },
          body: 'a252179d-fa9b-4b2a-9f4a-05c61af0639f,out,+79002445949,admin@ats23.gravitel.ru,+74996861574,2017-07-07T16:14:08+03:00,0,11,\n',
        };
      default:
        return { status: 400, body: 'Invalid cmd' };
    }
  }

  close(): Promise<void> {
    return this.server.close();
  }
}
