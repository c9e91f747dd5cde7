/** phone: contacts and text messages. */
import { ApiError, findRow, pageParam, param, renderList } from '../api-spec';
import { renderRecord } from '../protocol';
import { RELATIONS, insertRow, rows, type Row } from '../world';
import { api, done, loginApi, matches, type AppDefinition } from './define';

const A = 'phone';
const contactLine = (c: Row) => ({ id: c.id, name: c.name, phone: c.phone, relation: c.relation, birthday: c.birthday });

export const phoneApp: AppDefinition = {
  name: A,
  description: 'contacts and text messages',
  apis: [
    loginApi(A),
    api(A, 'search_contacts', 'List contacts whose name contains query and/or with a relation.',
      [param('query', 'string', 'part of the name', false),
        param('relation', 'string', 'friend|family|coworker|roommate', false, RELATIONS), pageParam],
      ({ world }, a) => renderList(rows(world, 'contacts')
        .filter((c) => matches(c.name, a.query) && (a.relation === undefined || c.relation === a.relation))
        .map(contactLine), a.page as number | undefined)),
    api(A, 'show_contact', 'Show one contact with email.', [param('contact_id', 'int', 'contact id')],
      ({ world }, a) => renderRecord(findRow(world, 'contacts', a.contact_id, 'contact'))),
    api(A, 'add_contact', 'Add a contact.',
      [param('name', 'string', 'full name'), param('phone', 'string', 'phone number'),
        param('relation', 'string', 'friend|family|coworker|roommate', true, RELATIONS)],
      ({ world }, a) => {
        const name = a.name as string;
        const row = insertRow(world, 'contacts', {
          name, phone: a.phone, email: `${name.replace(/\s+/g, '.')}@mail.com`.toLowerCase(), relation: a.relation,
          birthday: '01-01',
        });
        return done({ contact_id: row.id });
      }),
    api(A, 'update_contact', 'Change a contact\'s phone or relation.',
      [param('contact_id', 'int', 'contact id'), param('phone', 'string', 'new phone', false),
        param('relation', 'string', 'new relation', false, RELATIONS)],
      ({ world }, a) => {
        const c = findRow(world, 'contacts', a.contact_id, 'contact');
        if (a.phone === undefined && a.relation === undefined) throw new ApiError(422, 'nothing to update');
        if (a.phone !== undefined) c.phone = a.phone;
        if (a.relation !== undefined) c.relation = a.relation;
        return done();
      }),
    api(A, 'delete_contact', 'Delete a contact.', [param('contact_id', 'int', 'contact id')], ({ world }, a) => {
      findRow(world, 'contacts', a.contact_id, 'contact');
      delete world.tables.contacts[a.contact_id as number];
      return done();
    }),
    api(A, 'list_messages', 'List text messages, optionally with one contact.',
      [param('contact_id', 'int', 'contact id', false), pageParam],
      ({ world }, a) => renderList(rows(world, 'messages')
        .filter((m) => a.contact_id === undefined || m.contact_id === a.contact_id)
        .map((m) => ({ id: m.id, contact_id: m.contact_id, direction: m.direction, text: m.text, date: m.date })),
      a.page as number | undefined)),
    api(A, 'send_message', 'Send a text message to a contact.',
      [param('contact_id', 'int', 'contact id'), param('text', 'string', 'message text')],
      ({ world }, a) => {
        findRow(world, 'contacts', a.contact_id, 'contact');
        if ((a.text as string).trim() === '') throw new ApiError(422, 'text is empty');
        const m = insertRow(world, 'messages', { contact_id: a.contact_id, direction: 'out', text: a.text, date: world.today });
        return done({ message_id: m.id });
      }),
    api(A, 'delete_message', 'Delete a text message.', [param('message_id', 'int', 'message id')], ({ world }, a) => {
      findRow(world, 'messages', a.message_id, 'message');
      delete world.tables.messages[a.message_id as number];
      return done();
    }),
  ],
};
