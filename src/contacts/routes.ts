import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { accountOf, requireAccount } from '../http/auth.ts';
import type { AppContext } from '../http/context.ts';
import { idParams, pageQuery } from '../http/schemas.ts';
import { createContact, deleteContact, getContact, searchContacts, updateContact } from './contacts.ts';
import {
  addGroupMembers,
  createGroup,
  deleteGroup,
  getGroup,
  listGroups,
  removeGroupMembers,
  renameGroup,
} from './groups.ts';
import {
  addToStopList,
  checkStopList,
  listStopList,
  removeFromStopList,
  stopListSources,
} from './stop-list.ts';

const vars = z.record(z.string().min(1).max(100), z.string().max(2000));
const contactBody = z.strictObject({
  phone: z.string().max(50).nullable().optional(),
  email: z.string().max(320).nullable().optional(),
  name: z.string().max(300).optional(),
  timezone: z.string().max(64).nullable().optional(),
  vars: vars.optional(),
  group_ids: z.array(z.number().int().positive()).max(1000).optional(),
});
const toInput = ({ group_ids, ...rest }: z.infer<typeof contactBody>) => ({ ...rest, groupIds: group_ids });
const memberIds = z.strictObject({ contact_ids: z.array(z.number().int().positive()).min(1).max(10_000) });

export const contactRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.addHook('preHandler', requireAccount());

    // Contacts
    app.get(
      '/contacts',
      {
        schema: {
          tags: ['contacts'],
          summary:
            'Search contacts (phone, email, name), optionally within a group; keyset paging with `after`',
          querystring: z.strictObject({
            q: z.string().max(200).optional(),
            group_id: z.coerce.number().int().positive().optional(),
            after: z.coerce.number().int().nonnegative().optional(),
            ...pageQuery,
          }),
        },
      },
      async (request) => {
        const { q, group_id, after, limit } = request.query;
        return searchContacts(ctx.db, accountOf(request), { q, groupId: group_id, after, limit });
      },
    );
    app.post(
      '/contacts',
      {
        schema: {
          tags: ['contacts'],
          summary: 'Create a contact (phone normalised to E.164)',
          body: contactBody,
        },
      },
      async (request, reply) => {
        const contact = await createContact(
          ctx.db,
          ctx.clock,
          accountOf(request),
          toInput(request.body),
          ctx.defaultRegion,
        );
        reply.status(201);
        return contact;
      },
    );
    app.get(
      '/contacts/:id',
      { schema: { tags: ['contacts'], summary: 'One contact', params: idParams } },
      async (request) => getContact(ctx.db, accountOf(request), request.params.id),
    );
    app.patch(
      '/contacts/:id',
      {
        schema: {
          tags: ['contacts'],
          summary: 'Change a contact; vars are merged; group_ids replaces the membership',
          params: idParams,
          body: contactBody,
        },
      },
      async (request) =>
        updateContact(
          ctx.db,
          ctx.clock,
          accountOf(request),
          request.params.id,
          toInput(request.body),
          ctx.defaultRegion,
        ),
    );
    app.delete(
      '/contacts/:id',
      { schema: { tags: ['contacts'], summary: 'Delete a contact', params: idParams } },
      async (request) => {
        await deleteContact(ctx.db, accountOf(request), request.params.id);
        return { ok: true };
      },
    );

    // Groups
    app.get(
      '/groups',
      { schema: { tags: ['groups'], summary: 'Contact groups with their sizes' } },
      async (request) => ({
        items: await listGroups(ctx.db, accountOf(request)),
      }),
    );
    app.post(
      '/groups',
      {
        schema: {
          tags: ['groups'],
          summary: 'Create a group',
          body: z.strictObject({ name: z.string().min(1).max(200) }),
        },
      },
      async (request, reply) => {
        const group = await createGroup(ctx.db, ctx.clock, accountOf(request), request.body.name);
        reply.status(201);
        return group;
      },
    );
    app.get(
      '/groups/:id',
      { schema: { tags: ['groups'], summary: 'One group', params: idParams } },
      async (request) => getGroup(ctx.db, accountOf(request), request.params.id),
    );
    app.patch(
      '/groups/:id',
      {
        schema: {
          tags: ['groups'],
          summary: 'Rename a group',
          params: idParams,
          body: z.strictObject({ name: z.string().min(1).max(200) }),
        },
      },
      async (request) => renameGroup(ctx.db, accountOf(request), request.params.id, request.body.name),
    );
    app.delete(
      '/groups/:id',
      { schema: { tags: ['groups'], summary: 'Delete a group (its contacts stay)', params: idParams } },
      async (request) => {
        await deleteGroup(ctx.db, accountOf(request), request.params.id);
        return { ok: true };
      },
    );
    app.post(
      '/groups/:id/members',
      { schema: { tags: ['groups'], summary: 'Add contacts to a group', params: idParams, body: memberIds } },
      async (request) => ({
        added: await addGroupMembers(ctx.db, accountOf(request), request.params.id, request.body.contact_ids),
      }),
    );
    app.delete(
      '/groups/:id/members',
      {
        schema: {
          tags: ['groups'],
          summary: 'Remove contacts from a group',
          params: idParams,
          body: memberIds,
        },
      },
      async (request) => ({
        removed: await removeGroupMembers(
          ctx.db,
          accountOf(request),
          request.params.id,
          request.body.contact_ids,
        ),
      }),
    );

    // Stop list
    app.get(
      '/stop-list',
      {
        schema: {
          tags: ['stop list'],
          summary: 'Numbers that never receive anything again (keyset paging by phone)',
          querystring: z.strictObject({
            after: z.string().max(20).optional(),
            source: z.enum(stopListSources).optional(),
            ...pageQuery,
          }),
        },
      },
      async (request) => listStopList(ctx.db, accountOf(request), request.query),
    );
    app.post(
      '/stop-list',
      {
        schema: {
          tags: ['stop list'],
          summary: 'Add a number to the stop list',
          body: z.strictObject({
            phone: z.string().min(1).max(50),
            source: z.enum(stopListSources).default('manual'),
            reason: z.string().max(500).optional(),
          }),
        },
      },
      async (request, reply) => {
        const result = await addToStopList(
          ctx.db,
          ctx.clock,
          accountOf(request),
          request.body,
          ctx.defaultRegion,
        );
        reply.status(result.added ? 201 : 200);
        return result;
      },
    );
    app.get(
      '/stop-list/check',
      {
        schema: {
          tags: ['stop list'],
          summary: 'Is this number stop-listed?',
          querystring: z.strictObject({ phone: z.string().min(1).max(50) }),
        },
      },
      async (request) => checkStopList(ctx.db, accountOf(request), request.query.phone, ctx.defaultRegion),
    );
    app.delete(
      '/stop-list/:phone',
      {
        schema: {
          tags: ['stop list'],
          summary: 'Remove a number from the stop list',
          params: z.strictObject({ phone: z.string().min(1).max(50) }),
        },
      },
      async (request) => {
        await removeFromStopList(ctx.db, accountOf(request), request.params.phone, ctx.defaultRegion);
        return { ok: true };
      },
    );
  };
