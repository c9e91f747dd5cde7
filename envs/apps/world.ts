/**
 * One user's phone: the seeded world every apps task runs in.
 *
 * State is a set of tables of plain rows keyed by numeric id (like AppWorld's relational DB), so the verifier
 * can diff two states generically. Sessions (access tokens) are not world state: they live on the episode.
 */
import { createHash } from 'node:crypto';
import { Rng } from '../../common/random';

export type Value = string | number | boolean | number[];
export type Row = { id: number } & Record<string, Value>;

export const TABLES = [
  'contacts', 'messages', 'events', 'notes', 'wallet', 'transactions', 'requests', 'todos', 'files', 'songs',
  'playlists',
] as const;
export type TableName = (typeof TABLES)[number];

export interface Supervisor {
  firstName: string;
  lastName: string;
  email: string;
  phone: string;
}

export interface World {
  /** ISO date (YYYY-MM-DD) the episode happens on. */
  today: string;
  supervisor: Supervisor;
  /** App name -> password (what `supervisor.show_account_passwords` reveals). */
  passwords: Record<string, string>;
  tables: Record<TableName, Record<number, Row>>;
  nextId: Record<TableName, number>;
}

export const RELATIONS = ['friend', 'family', 'coworker', 'roommate'] as const;
export const PROJECTS = ['inbox', 'today', 'work', 'home'] as const;
export const LOGIN_APPS = ['phone', 'calendar', 'notes', 'payments', 'todo', 'files', 'music'] as const;

const FIRST = ['Ann', 'Ben', 'Cara', 'Dan', 'Eva', 'Finn', 'Gia', 'Hugo', 'Ivy', 'Jack', 'Kim', 'Leo', 'Mia', 'Nate',
  'Olga', 'Paul', 'Rosa', 'Sam', 'Tia', 'Uma', 'Vic', 'Wes', 'Yara', 'Zoe'];
const LAST = ['Lee', 'Diaz', 'Khan', 'Moss', 'Park', 'Reed', 'Shaw', 'Tran', 'Vega', 'Webb', 'Cole', 'Hale', 'Nash',
  'Ortiz', 'Price', 'Stone'];
const EVENT_TITLES = ['Dentist', 'Team sync', 'Yoga', 'Lunch with Mia', 'Car service', 'Book club', 'Gym',
  'Project review', 'Haircut', 'Piano lesson', 'Standup', 'Dinner party'];
const NOTE_TITLES = ['Groceries', 'Gift ideas', 'Trip plan', 'Recipes', 'Books to read', 'Work log', 'Passwords hint',
  'Garden', 'Movies', 'Budget'];
const NOTE_WORDS = ['milk', 'eggs', 'paris', 'train', 'pasta', 'novel', 'rent', 'tulips', 'coffee', 'report', 'gift',
  'bread', 'tickets', 'plants'];
const TODO_TITLES = ['Call plumber', 'Pay rent', 'Buy milk', 'Write report', 'Clean garage', 'Book flights',
  'Water plants', 'Renew passport', 'Fix bike', 'Send invoice', 'Email landlord', 'Walk dog', 'Read contract',
  'Order printer ink'];
const FILE_WORDS = ['beach', 'party', 'sunset', 'hike', 'dog', 'city', 'snow', 'lake', 'garden', 'concert'];
const DOC_WORDS = ['resume', 'taxes', 'lease', 'invoice', 'notes', 'budget'];
const SONGS = ['Blue Sky', 'Night Drive', 'Paper Moon', 'Slow River', 'Gold Rush', 'Echoes', 'Wildfire', 'Homeward',
  'Neon Rain', 'Still Water', 'Red Kite', 'Open Road', 'Silver Lining', 'Daydream'];
const ARTISTS = ['Nova', 'The Pines', 'Kira Vale', 'Low Tide', 'Arcadia'];
const PLAYLISTS = ['Chill', 'Workout', 'Road trip', 'Focus'];

/** Date arithmetic on ISO days, in UTC so it is the same on every machine. */
export function addDays(iso: string, days: number): string {
  const t = Date.parse(`${iso}T00:00:00Z`) + days * 86_400_000;
  return new Date(t).toISOString().slice(0, 10);
}

export function weekday(iso: string): string {
  return ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'][
    new Date(`${iso}T00:00:00Z`).getUTCDay()
  ];
}

function emptyTables(): Record<TableName, Record<number, Row>> {
  return Object.fromEntries(TABLES.map((t) => [t, {}])) as Record<TableName, Record<number, Row>>;
}

/** Insert a row with the table's next id; the one way rows are created, by the generator and the APIs alike. */
export function insertRow(world: World, table: TableName, fields: Record<string, Value>): Row {
  const id = world.nextId[table];
  world.nextId[table] = id + 1;
  const row = { id, ...fields } as Row;
  world.tables[table][id] = row;
  return row;
}

export function rows(world: World, table: TableName): Row[] {
  return Object.values(world.tables[table]).sort((a, b) => a.id - b.id);
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** A fresh, deterministic world for `seed`. */
export function generateWorld(seed: number): World {
  const rng = new Rng(seed);
  const year = 2026;
  const today = addDays(`${year}-01-01`, rng.int(20, 330));
  const people = rng.sample(FIRST, 9).map((first, i) => ({ first, last: rng.pick(LAST), i }));
  const [me, ...others] = people;
  const supervisor: Supervisor = {
    firstName: me.first,
    lastName: me.last,
    email: `${me.first}.${me.last}@mail.com`.toLowerCase(),
    phone: `555-01${pad(rng.int(0, 99))}`,
  };
  const passwords: Record<string, string> = {};
  const pw = rng.fork('passwords');
  for (const app of LOGIN_APPS) passwords[app] = `${pw.pick(NOTE_WORDS)}${pw.int(10, 99)}`;

  const world: World = {
    today,
    supervisor,
    passwords,
    tables: emptyTables(),
    nextId: Object.fromEntries(TABLES.map((t) => [t, 1])) as Record<TableName, number>,
  };

  // Contacts: 8 people, at least two of each of two relations so "all my X" tasks act on several items.
  const relations = rng.shuffle([...RELATIONS, ...RELATIONS]);
  const usedPhones = new Set([supervisor.phone]);
  for (const [k, p] of others.entries()) {
    let phone: string;
    do phone = `555-${pad(rng.int(200, 999), 4)}`; while (usedPhones.has(phone));
    usedPhones.add(phone);
    insertRow(world, 'contacts', {
      name: `${p.first} ${p.last}`,
      phone,
      email: `${p.first}.${p.last}@mail.com`.toLowerCase(),
      relation: relations[k],
      birthday: addDays(today, rng.int(-20, 40)).slice(5),
    });
  }
  const contacts = rows(world, 'contacts');

  for (let i = 0; i < 6; i++) {
    const c = rng.pick(contacts);
    insertRow(world, 'messages', {
      contact_id: c.id,
      direction: rng.bool() ? 'in' : 'out',
      text: rng.pick(['See you soon', 'Thanks!', 'Running late', 'Call me', 'Happy to help', 'Sounds good']),
      date: addDays(today, -rng.int(0, 10)),
    });
  }

  for (const title of rng.sample(EVENT_TITLES, 8)) {
    insertRow(world, 'events', {
      title,
      date: addDays(today, rng.int(-1, 4)),
      time: `${pad(rng.int(8, 19))}:${rng.pick(['00', '30'])}`,
    });
  }

  for (const title of rng.sample(NOTE_TITLES, 5)) {
    insertRow(world, 'notes', { title, content: rng.sample(NOTE_WORDS, 3).join(' ') });
  }

  insertRow(world, 'wallet', { balance: rng.int(200, 900) });
  for (let i = 0; i < 4; i++) {
    const c = rng.pick(contacts);
    insertRow(world, 'transactions', {
      email: c.email as string,
      amount: rng.int(5, 60),
      direction: rng.bool() ? 'sent' : 'received',
      note: rng.pick(['pizza', 'rent', 'tickets', 'taxi', 'coffee']),
      date: addDays(today, -rng.int(1, 20)),
    });
  }
  // Requests others sent me (I may owe them) and ones I sent; several pending so filter tasks have choices.
  for (const c of rng.sample(contacts, 6)) {
    insertRow(world, 'requests', {
      email: c.email as string,
      name: c.name as string,
      amount: rng.int(2, 30) * 5,
      direction: rng.bool(0.7) ? 'received' : 'sent',
      status: rng.bool(0.75) ? 'pending' : 'approved',
      note: rng.pick(['dinner', 'concert', 'groceries', 'cab', 'gift']),
    });
  }

  for (const title of rng.sample(TODO_TITLES, 9)) {
    insertRow(world, 'todos', { title, project: rng.pick(PROJECTS), done: rng.bool(0.4) });
  }

  for (const word of rng.sample(FILE_WORDS, 5)) {
    const created = addDays(today, -rng.int(0, 500));
    insertRow(world, 'files', { path: `~/photos/${word}.jpg`, created });
  }
  for (const word of rng.sample(DOC_WORDS, 3)) {
    insertRow(world, 'files', { path: `~/documents/${word}.txt`, created: addDays(today, -rng.int(0, 300)) });
  }

  for (const title of rng.sample(SONGS, 10)) {
    insertRow(world, 'songs', { title, artist: rng.pick(ARTISTS), liked: rng.bool(0.3) });
  }
  const songIds = rows(world, 'songs').map((s) => s.id);
  for (const name of rng.sample(PLAYLISTS, 3)) {
    insertRow(world, 'playlists', { name, song_ids: rng.sample(songIds, rng.int(2, 4)).sort((a, b) => a - b) });
  }
  return world;
}

export function cloneWorld(world: World): World {
  return structuredClone(world);
}

/** Canonical JSON: keys sorted, so equal states give equal text whatever the insertion order. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj).sort().map((k) => `${JSON.stringify(k)}:${canonical(obj[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** sha256 of a world's canonical form (the determinism tests compare it across runs and processes). */
export function worldHash(world: World): string {
  return createHash('sha256').update(canonical(world)).digest('hex');
}
