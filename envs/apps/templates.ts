/**
 * Task templates over three difficulty levels. A template reads a freshly generated world and returns the
 * instruction plus the ground-truth solution as API calls (without tokens). The verifier's expected state is
 * that solution executed on a copy of the world, and the expert replays it, so the two can never disagree.
 * A template returns null when the world gives it nothing sensible to ask; the task builder then tries another.
 */
import type { Rng } from '../../common/random';
import { PAGE_SIZE } from './api-spec';
import { PROJECTS, RELATIONS, addDays, rows, type Value, type World } from './world';

export interface SolutionStep {
  app: string;
  api: string;
  args: Record<string, Value>;
  /** Lookups read what the acting steps need; acts change state. */
  kind: 'lookup' | 'act';
}

export interface TaskSpec {
  instruction: string;
  steps: SolutionStep[];
  /** The expected answer for question tasks. */
  answer?: string;
}

export interface Template {
  name: string;
  level: 1 | 2 | 3;
  generate(world: World, rng: Rng): TaskSpec | null;
}

/**
 * Level-1/2 tasks act on at most this many items, so the list they came from is still among the last
 * CONTEXT_TURNS (5) turns of the context when the last one is acted on and when the task is completed.
 */
const MAX_ITEMS = 4;
/** Level-3 tasks read two lists (or two pages) before acting, so they act on at most one item fewer. */
const MAX_ITEMS_L3 = MAX_ITEMS - 1;

const look = (app: string, api: string, args: Record<string, Value> = {}): SolutionStep => ({ app, api, args, kind: 'lookup' });
const act = (app: string, api: string, args: Record<string, Value> = {}): SolutionStep => ({ app, api, args, kind: 'act' });

const NEW_TODOS = ['Buy stamps', 'Call mom', 'Pick up laundry', 'Backup laptop', 'Plan picnic', 'Return library book'];
const NEW_NOTES: [string, string][] = [['Packing', 'socks charger passport'], ['Ideas', 'start a podcast'],
  ['Wine list', 'merlot rioja'], ['Car', 'oil change in june'], ['Quotes', 'less is more']];
const NEW_EVENTS = ['Vet visit', 'Coffee with Sam', 'Tax meeting', 'Movie night', 'Bike repair'];
const TEXTS = ['Running 10 minutes late', 'See you tonight', 'Happy Friday!', 'Call me when free', 'Dinner at 8?'];

function firstName(name: Value): string {
  return String(name).split(' ')[0];
}

/** A search that finds exactly one row by first name, or null if the first name is shared. */
function uniqueByFirstName(world: World, name: Value): boolean {
  return rows(world, 'contacts').filter((c) => firstName(c.name) === firstName(name)).length === 1;
}

/** Lookups for every page of a list call. */
function allPages(app: string, api: string, args: Record<string, Value>, total: number): SolutionStep[] {
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  return Array.from({ length: pages }, (_, p) => look(app, api, p === 0 ? args : { ...args, page: p }));
}

export const TEMPLATES: Template[] = [
  // ---- level 1: one lookup or one action after login
  {
    name: 'contact_phone', level: 1, generate(world, rng) {
      const c = rng.pick(rows(world, 'contacts').filter((r) => uniqueByFirstName(world, r.name)));
      return {
        instruction: `What is the phone number of ${c.name}?`,
        steps: [look('phone', 'search_contacts', { query: firstName(c.name) })],
        answer: String(c.phone),
      };
    },
  },
  {
    name: 'add_todo', level: 1, generate(world, rng) {
      const title = rng.pick(NEW_TODOS);
      const project = rng.pick(PROJECTS);
      return { instruction: `Add the task "${title}" to my ${project} project in todo.`, steps: [act('todo', 'add_task', { title, project })] };
    },
  },
  {
    name: 'create_note', level: 1, generate(world, rng) {
      const [title, content] = rng.pick(NEW_NOTES);
      return { instruction: `Create a note titled "${title}" with the content "${content}".`, steps: [act('notes', 'create_note', { title, content })] };
    },
  },
  {
    name: 'wallet_balance', level: 1, generate(world) {
      return {
        instruction: 'How many dollars are in my payments wallet?',
        steps: [look('payments', 'show_balance')],
        answer: String(world.tables.wallet[1].balance),
      };
    },
  },
  {
    name: 'create_event', level: 1, generate(world, rng) {
      const title = rng.pick(NEW_EVENTS);
      const date = addDays(world.today, rng.int(1, 6));
      const time = `${rng.int(9, 18)}:00`.padStart(5, '0');
      return {
        instruction: `Add "${title}" to my calendar on ${date} at ${time}.`,
        steps: [act('calendar', 'create_event', { title, date, time })],
      };
    },
  },
  {
    name: 'text_contact', level: 1, generate(world, rng) {
      const c = rng.pick(rows(world, 'contacts').filter((r) => uniqueByFirstName(world, r.name)));
      const text = rng.pick(TEXTS);
      return {
        instruction: `Send the text "${text}" to ${c.name}.`,
        steps: [look('phone', 'search_contacts', { query: firstName(c.name) }), act('phone', 'send_message', { contact_id: c.id, text })],
      };
    },
  },
  {
    name: 'like_song', level: 1, generate(world, rng) {
      const unliked = rows(world, 'songs').filter((s) => !s.liked);
      if (unliked.length === 0) return null;
      const s = rng.pick(unliked);
      return {
        instruction: `Like the song "${s.title}" in music.`,
        steps: [look('music', 'search_songs', { query: String(s.title) }), act('music', 'like_song', { song_id: s.id })],
      };
    },
  },

  // ---- level 2: list, filter, act on several items
  {
    name: 'delete_done_todos', level: 2, generate(world, rng) {
      const project = rng.pick(PROJECTS);
      const doneTasks = rows(world, 'todos').filter((t) => t.project === project && t.done);
      if (doneTasks.length < 1 || doneTasks.length > MAX_ITEMS) return null;
      return {
        instruction: `Delete all completed tasks in my ${project} project in todo.`,
        steps: [look('todo', 'list_tasks', { project, done: true }), ...doneTasks.map((t) => act('todo', 'delete_task', { task_id: t.id }))],
      };
    },
  },
  {
    name: 'count_events', level: 2, generate(world, rng) {
      const date = addDays(world.today, rng.int(0, 3));
      const n = rows(world, 'events').filter((e) => e.date === date).length;
      if (n > PAGE_SIZE) return null;
      return {
        instruction: `How many events do I have on ${date}?`,
        steps: [look('calendar', 'list_events', { date })],
        answer: String(n),
      };
    },
  },
  {
    name: 'decline_big_requests', level: 2, generate(world, rng) {
      const pending = rows(world, 'requests').filter((r) => r.direction === 'received' && r.status === 'pending');
      const amounts = [...new Set(pending.map((r) => r.amount as number))].sort((a, b) => a - b);
      if (amounts.length < 2 || pending.length > PAGE_SIZE) return null;
      const limit = amounts[rng.int(0, amounts.length - 2)];
      return {
        instruction: `Decline every pending payment request I received that is over $${limit}.`,
        steps: [look('payments', 'list_requests', { direction: 'received', status: 'pending' }),
          ...pending.filter((r) => (r.amount as number) > limit).map((r) => act('payments', 'decline_request', { request_id: r.id }))],
      };
    },
  },
  {
    name: 'text_relation', level: 2, generate(world, rng) {
      const relation = rng.pick(RELATIONS);
      const people = rows(world, 'contacts').filter((c) => c.relation === relation);
      const text = rng.pick(TEXTS);
      return {
        instruction: `Send the text "${text}" to every contact who is my ${relation}.`,
        steps: [look('phone', 'search_contacts', { relation }),
          ...people.map((c) => act('phone', 'send_message', { contact_id: c.id, text }))],
      };
    },
  },
  {
    name: 'delete_notes_mentioning', level: 2, generate(world, rng) {
      const notes = rows(world, 'notes');
      const words = [...new Set(notes.flatMap((n) => String(n.content).split(' ')))];
      const word = rng.pick(words);
      const hits = notes.filter((n) => String(n.title).toLowerCase().includes(word) || String(n.content).includes(word));
      if (hits.length > MAX_ITEMS) return null;
      return {
        instruction: `Delete every note that mentions "${word}".`,
        steps: [look('notes', 'search_notes', { query: word }), ...hits.map((n) => act('notes', 'delete_note', { note_id: n.id }))],
      };
    },
  },
  {
    name: 'artist_to_playlist', level: 2, generate(world, rng) {
      const playlist = rng.pick(rows(world, 'playlists'));
      const artist = String(rng.pick(rows(world, 'songs')).artist);
      const songs = rows(world, 'songs').filter((s) => s.artist === artist);
      const missing = songs.filter((s) => !(playlist.song_ids as number[]).includes(s.id));
      if (missing.length === 0 || missing.length > MAX_ITEMS - 1 || songs.length > PAGE_SIZE) return null;
      return {
        instruction: `Add every song by ${artist} to my "${playlist.name}" playlist, if it is not there yet.`,
        steps: [look('music', 'search_songs', { artist }), look('music', 'list_playlists'),
          ...missing.map((s) => act('music', 'add_to_playlist', { playlist_id: playlist.id, song_id: s.id }))],
      };
    },
  },

  // ---- level 3: several apps together, filters that need reasoning
  {
    name: 'birthday_texts', level: 3, generate(world) {
      const contacts = rows(world, 'contacts');
      const week = new Set(Array.from({ length: 7 }, (_, k) => addDays(world.today, k).slice(5)));
      const hits = contacts.filter((c) => week.has(String(c.birthday)));
      if (hits.length === 0 || hits.length > MAX_ITEMS_L3) return null;
      const text = 'Happy birthday!';
      return {
        instruction: `Send the text "${text}" to each contact whose birthday is within the next 7 days, today included.`,
        steps: [...allPages('phone', 'search_contacts', {}, contacts.length),
          ...hits.map((c) => act('phone', 'send_message', { contact_id: c.id, text }))],
      };
    },
  },
  {
    name: 'settle_requests', level: 3, generate(world, rng) {
      const relation = rng.pick(RELATIONS);
      const names = new Set(rows(world, 'contacts').filter((c) => c.relation === relation).map((c) => c.name));
      const pending = rows(world, 'requests').filter((r) => r.direction === 'received' && r.status === 'pending');
      if (!pending.some((r) => names.has(r.name)) || pending.length > MAX_ITEMS_L3) return null;
      return {
        instruction: `Pay every pending payment request I received from a contact who is my ${relation}, and decline the other pending requests I received.`,
        steps: [look('phone', 'search_contacts', { relation }),
          look('payments', 'list_requests', { direction: 'received', status: 'pending' }),
          ...pending.map((r) => act('payments', names.has(r.name) ? 'approve_request' : 'decline_request', { request_id: r.id }))],
      };
    },
  },
  {
    name: 'photo_cleanup', level: 3, generate(world, rng) {
      const year = world.today.slice(0, 4);
      const photos = rows(world, 'files').filter((f) => String(f.path).startsWith('~/photos/'));
      const old = photos.filter((f) => !String(f.created).startsWith(year));
      if (old.length === 0 || old.length > MAX_ITEMS || photos.length > PAGE_SIZE) return null;
      const project = rng.pick(PROJECTS);
      return {
        instruction: `Move the files in ~/photos that were not created in ${year} to ~/recycle_bin, then add the task "Photos cleaned" to my ${project} project in todo.`,
        steps: [...allPages('files', 'list_directory', { path: '~/photos' }, photos.length),
          ...old.map((f) => act('files', 'move_file', { source: f.path, destination: '~/recycle_bin/' })),
          act('todo', 'add_task', { title: 'Photos cleaned', project })],
      };
    },
  },
  {
    name: 'events_to_todos', level: 3, generate(world, rng) {
      const date = addDays(world.today, rng.int(1, 2));
      const events = rows(world, 'events').filter((e) => e.date === date)
        .sort((x, y) => String(x.time).localeCompare(String(y.time)) || x.id - y.id);
      if (events.length === 0 || events.length > MAX_ITEMS_L3) return null;
      return {
        instruction: `For each event on my calendar on ${date}, add the task "Prepare <event title>" to my today project in todo.`,
        steps: [look('calendar', 'list_events', { date }),
          ...events.map((e) => act('todo', 'add_task', { title: `Prepare ${e.title}`, project: 'today' }))],
      };
    },
  },
];

export function templateNamed(name: string): Template {
  const t = TEMPLATES.find((x) => x.name === name);
  if (!t) throw new Error(`unknown apps template ${name}`);
  return t;
}
