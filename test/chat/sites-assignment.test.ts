import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assignWaiting } from '../../src/chat/assignment.ts';
import { sendVisitorMessage } from '../../src/chat/messages.ts';
import { registerConnection, setOperatorStatus } from '../../src/chat/presence.ts';
import { siteByPublicKey } from '../../src/chat/sites.ts';
import { identifyVisitor } from '../../src/chat/visitors.ts';
import { PRESENCE_GRACE_MS } from '../../src/chat/vocabulary.ts';
import { backends } from '../support/db.ts';
import { type ChatWorld, chatWorld } from './setup.ts';
import { api } from './support.ts';

describe.each(backends)('sites and assignment on $name', (backend) => {
  let w: ChatWorld;
  beforeAll(async () => {
    w = await chatWorld(backend, { operators: 3 });
  });
  afterAll(() => w.close());

  it('manages sites: embed snippet, validation naming the field, key rotation, one site for mailing replies', async () => {
    const created = await w.api<{ id: number; public_key: string; mailing_replies: boolean }>(
      'POST',
      '/api/v1/sites',
      {
        name: 'Landing',
        allowed_origins: ['https://landing.example/'],
        settings: { greeting: 'Здравствуйте!' },
        mailing_replies: true,
      },
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      allowed_origins: ['https://landing.example'],
      mailing_replies: true,
    });
    const embed = await w.api<{ snippet: string }>('GET', `/api/v1/sites/${created.body.id}/embed`);
    expect(embed.body.snippet).toBe(
      `<script async src="${w.base}/widget/v1/widget.js" data-omnitalk-site="${created.body.public_key}"></script>`,
    );
    const bad = await w.api<{ error: { field: string; code: string } }>(
      'PATCH',
      `/api/v1/sites/${created.body.id}`,
      {
        allowed_origins: ['https://landing.example/path'],
      },
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe('allowed_origins');
    const unknown = await w.api<{ error: { code: string; field: string } }>('POST', '/api/v1/sites', {
      name: 'X',
      colour: 'red',
    });
    expect(unknown.body.error).toMatchObject({ code: 'unknown_field', field: 'colour' });

    // Only one site takes the mailing replies.
    await w.api('PATCH', `/api/v1/sites/${w.site.id}`, { mailing_replies: true });
    const sites = await w.api<{ items: { id: number; mailing_replies: boolean }[] }>('GET', '/api/v1/sites');
    expect(sites.body.items.filter((s) => s.mailing_replies).map((s) => s.id)).toEqual([w.site.id]);

    const rotated = await w.api<{ public_key: string }>(
      'POST',
      `/api/v1/sites/${created.body.id}/rotate-key`,
    );
    expect(rotated.body.public_key).not.toBe(created.body.public_key);
    await expect(siteByPublicKey(w.t.ctx.db, created.body.public_key)).rejects.toMatchObject({
      code: 'not_found',
    });

    // Operators read sites but do not manage them.
    const asOperator = { cookie: w.operators[0]!.cookie };
    expect((await api(w.base, asOperator, 'GET', '/api/v1/sites')).status).toBe(200);
    expect((await api(w.base, asOperator, 'POST', '/api/v1/sites', { name: 'Mine' })).status).toBe(403);
    expect((await w.api('DELETE', `/api/v1/sites/${created.body.id}`)).status).toBe(200);
    expect((await w.api('GET', `/api/v1/sites/${created.body.id}`)).status).toBe(404);
  });

  it("takes turns among the site's online operators, and hands out waiting dialogs when one comes online", async () => {
    const { db } = w.t.ctx;
    const clock = w.t.clock;
    const [a, b, c] = w.operators as [
      ChatWorld['operators'][number],
      ChatWorld['operators'][number],
      ChatWorld['operators'][number],
    ];
    const site = (
      await w.api<{ id: number; public_key: string }>('POST', '/api/v1/sites', {
        name: 'Support',
        operator_ids: [a.id, b.id],
      })
    ).body;
    const publicSite = await siteByPublicKey(db, site.public_key);
    const connect = async (userId: number) => {
      await registerConnection(db, clock, {
        id: `conn-${userId}-${Math.random()}`,
        userId,
        accountId: w.tenant.accountId,
        serverId: 'test',
      });
      await setOperatorStatus(db, clock, w.tenant.accountId, userId, 'online');
    };
    const newDialog = async () => {
      const { visitor } = await identifyVisitor(db, clock, publicSite, undefined, 'test');
      const sent = await sendVisitorMessage(db, clock, visitor, { clientId: 'c', text: 'Помогите' });
      return await db
        .selectFrom('dialogs')
        .select(['id', 'operator_id'])
        .where('id', '=', sent.message.dialog_id)
        .executeTakeFirstOrThrow();
    };

    // Nobody online: the dialog waits.
    const waiting = await newDialog();
    expect(waiting.operator_id).toBeNull();
    // c is online but not an operator of this site; a comes online and gets the waiting dialog.
    await connect(c.id);
    await connect(a.id);
    expect(await assignWaiting(db, clock, w.tenant.accountId)).toBe(1);
    const got = await db
      .selectFrom('dialogs')
      .select('operator_id')
      .where('id', '=', waiting.id)
      .executeTakeFirstOrThrow();
    expect(got.operator_id).toBe(a.id);

    // With a and b online they take turns: b (never had one) first, then a, then b.
    await connect(b.id);
    const turns = [];
    for (let i = 0; i < 4; i++) turns.push((await newDialog()).operator_id);
    expect(turns).toEqual([b.id, a.id, b.id, a.id]);

    // Away is not online; a lost connection (no heartbeat) is not online either.
    await setOperatorStatus(db, clock, w.tenant.accountId, b.id, 'away');
    expect((await newDialog()).operator_id).toBe(a.id);
    clock.advance(PRESENCE_GRACE_MS + 1000);
    expect((await newDialog()).operator_id).toBeNull();
    const presence = await w.api<{ items: { user_id: number; status: string }[] }>(
      'GET',
      '/api/v1/operators',
    );
    expect(presence.body.items.find((o) => o.user_id === a.id)?.status).toBe('offline');
  });

  it("sets a status over REST: your own, or anyone's as an admin", async () => {
    const [a, b] = w.operators as [ChatWorld['operators'][number], ChatWorld['operators'][number]];
    const own = await api(w.base, { cookie: a.cookie }, 'PUT', `/api/v1/operators/${a.id}/status`, {
      status: 'away',
    });
    expect(own.status).toBe(200);
    const other = await api(w.base, { cookie: a.cookie }, 'PUT', `/api/v1/operators/${b.id}/status`, {
      status: 'away',
    });
    expect(other.status).toBe(403);
    const admin = await w.api('PUT', `/api/v1/operators/${b.id}/status`, { status: 'offline' });
    expect(admin.status).toBe(200);
  });
});
