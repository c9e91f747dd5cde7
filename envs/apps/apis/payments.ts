/** payments: a Venmo-like wallet with payments and payment requests between people (by email). */
import { ApiError, findRow, pageParam, param, renderList } from '../api-spec';
import { renderRecord } from '../protocol';
import { insertRow, rows, type World } from '../world';
import { api, done, loginApi, type AppDefinition } from './define';

const A = 'payments';

function wallet(world: World) {
  return world.tables.wallet[1];
}

function pay(world: World, email: string, amount: number, note: string): number {
  if (!Number.isInteger(amount) || amount <= 0) throw new ApiError(422, 'amount must be a positive integer');
  const w = wallet(world);
  if ((w.balance as number) < amount) throw new ApiError(402, 'insufficient balance');
  w.balance = (w.balance as number) - amount;
  return insertRow(world, 'transactions', { email, amount, direction: 'sent', note, date: world.today }).id;
}

function pendingRequest(world: World, id: unknown, direction: string) {
  const r = findRow(world, 'requests', id as number, 'request');
  if (r.status !== 'pending') throw new ApiError(409, `request ${r.id} is ${r.status as string}, not pending`);
  if (r.direction !== direction) throw new ApiError(409, `request ${r.id} was ${r.direction as string} by you`);
  return r;
}

export const paymentsApp: AppDefinition = {
  name: A,
  description: 'wallet balance, payments and payment requests',
  apis: [
    loginApi(A),
    api(A, 'show_balance', 'Show the wallet balance.', [], ({ world }) => renderRecord({ balance: wallet(world).balance })),
    api(A, 'list_transactions', 'List past payments, newest first.', [pageParam],
      ({ world }, a) => renderList(rows(world, 'transactions').reverse().map((t) => ({ ...t })), a.page as number | undefined)),
    api(A, 'list_requests', 'List payment requests; received = others asked you to pay.',
      [param('direction', 'string', 'received|sent', false, ['received', 'sent']),
        param('status', 'string', 'pending|approved|declined', false, ['pending', 'approved', 'declined']), pageParam],
      ({ world }, a) => renderList(rows(world, 'requests')
        .filter((r) => (a.direction === undefined || r.direction === a.direction) && (a.status === undefined || r.status === a.status))
        .map((r) => ({ id: r.id, name: r.name, amount: r.amount, direction: r.direction, status: r.status })),
      a.page as number | undefined)),
    api(A, 'show_request', 'Show one payment request.', [param('request_id', 'int', 'request id')],
      ({ world }, a) => renderRecord(findRow(world, 'requests', a.request_id, 'request'))),
    api(A, 'send_payment', 'Pay someone by email.',
      [param('email', 'string', 'receiver email'), param('amount', 'int', 'whole dollars'), param('note', 'string', 'note', false)],
      ({ world }, a) => done({ transaction_id: pay(world, a.email as string, a.amount as number, (a.note as string) ?? '') })),
    api(A, 'request_payment', 'Ask someone by email to pay you.',
      [param('email', 'string', 'payer email'), param('amount', 'int', 'whole dollars'), param('note', 'string', 'note', false)],
      ({ world }, a) => {
        if ((a.amount as number) <= 0) throw new ApiError(422, 'amount must be a positive integer');
        const contact = rows(world, 'contacts').find((c) => c.email === a.email);
        const r = insertRow(world, 'requests', {
          email: a.email, name: contact ? contact.name : a.email, amount: a.amount, direction: 'sent',
          status: 'pending', note: (a.note as string) ?? '',
        });
        return done({ request_id: r.id });
      }),
    api(A, 'approve_request', 'Pay a request you received.', [param('request_id', 'int', 'request id')], ({ world }, a) => {
      const r = pendingRequest(world, a.request_id, 'received');
      pay(world, r.email as string, r.amount as number, r.note as string);
      r.status = 'approved';
      return done();
    }),
    api(A, 'decline_request', 'Decline a request you received.', [param('request_id', 'int', 'request id')], ({ world }, a) => {
      pendingRequest(world, a.request_id, 'received').status = 'declined';
      return done();
    }),
  ],
};
