/** calendar: dated events. */
import { ApiError, findRow, pageParam, param, renderList } from '../api-spec';
import { renderRecord } from '../protocol';
import { insertRow, rows } from '../world';
import { api, done, loginApi, type AppDefinition } from './define';

const A = 'calendar';
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const TIME = /^\d{2}:\d{2}$/;

function checkDate(v: unknown): void {
  if (v !== undefined && !DATE.test(v as string)) throw new ApiError(422, 'date must be YYYY-MM-DD');
}
function checkTime(v: unknown): void {
  if (v !== undefined && !TIME.test(v as string)) throw new ApiError(422, 'time must be HH:MM');
}

export const calendarApp: AppDefinition = {
  name: A,
  description: 'events with a date and time',
  apis: [
    loginApi(A),
    api(A, 'list_events', 'List events, optionally on one date, by date and time.',
      [param('date', 'string', 'YYYY-MM-DD', false), pageParam],
      ({ world }, a) => {
        checkDate(a.date);
        const list = rows(world, 'events').filter((e) => a.date === undefined || e.date === a.date)
          .sort((x, y) => `${x.date} ${x.time}`.localeCompare(`${y.date} ${y.time}`) || x.id - y.id);
        return renderList(list.map((e) => ({ ...e })), a.page as number | undefined);
      }),
    api(A, 'show_event', 'Show one event.', [param('event_id', 'int', 'event id')],
      ({ world }, a) => renderRecord(findRow(world, 'events', a.event_id, 'event'))),
    api(A, 'create_event', 'Create an event.',
      [param('title', 'string', 'title'), param('date', 'string', 'YYYY-MM-DD'), param('time', 'string', 'HH:MM')],
      ({ world }, a) => {
        checkDate(a.date);
        checkTime(a.time);
        return done({ event_id: insertRow(world, 'events', { title: a.title, date: a.date, time: a.time }).id });
      }),
    api(A, 'update_event', 'Change an event\'s date or time.',
      [param('event_id', 'int', 'event id'), param('date', 'string', 'YYYY-MM-DD', false),
        param('time', 'string', 'HH:MM', false)],
      ({ world }, a) => {
        const e = findRow(world, 'events', a.event_id, 'event');
        checkDate(a.date);
        checkTime(a.time);
        if (a.date === undefined && a.time === undefined) throw new ApiError(422, 'nothing to update');
        if (a.date !== undefined) e.date = a.date;
        if (a.time !== undefined) e.time = a.time;
        return done();
      }),
    api(A, 'delete_event', 'Delete an event.', [param('event_id', 'int', 'event id')], ({ world }, a) => {
      findRow(world, 'events', a.event_id, 'event');
      delete world.tables.events[a.event_id as number];
      return done();
    }),
  ],
};
