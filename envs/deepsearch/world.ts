/**
 * A seeded fictional encyclopedia world: people, cities, countries, organisations and works, each with
 * attributes (years, occupations, genres ...) and relations to one another (birthplace, founder, publisher ...).
 *
 * Names are built from short word lists so a word-level tokenizer stays small, and every name is unique so
 * each question has exactly one answer. Some relations are optional (spouse, employer, mayor, capital): their
 * absence is what makes a question unanswerable.
 */
import { Rng } from '../../common/random';

export type EntityKind = 'person' | 'city' | 'country' | 'organisation' | 'work';
type ObjectKind = EntityKind | 'year' | 'literal';

export interface RelationSpec {
  /** The noun phrase used in passages, questions and expert queries ("place of birth"). */
  phrase: string;
  subject: EntityKind;
  object: ObjectKind;
  /** Optional relations are missing for some subjects (the source of unanswerable questions). */
  optional: boolean;
}

export const RELATIONS = {
  birthplace: { phrase: 'place of birth', subject: 'person', object: 'city', optional: false },
  birthYear: { phrase: 'year of birth', subject: 'person', object: 'year', optional: false },
  occupation: { phrase: 'occupation', subject: 'person', object: 'literal', optional: false },
  employer: { phrase: 'employer', subject: 'person', object: 'organisation', optional: true },
  spouse: { phrase: 'spouse', subject: 'person', object: 'person', optional: true },
  country: { phrase: 'country', subject: 'city', object: 'country', optional: false },
  cityFounded: { phrase: 'founding year', subject: 'city', object: 'year', optional: false },
  mayor: { phrase: 'mayor', subject: 'city', object: 'person', optional: true },
  founder: { phrase: 'founder', subject: 'organisation', object: 'person', optional: false },
  orgFounded: { phrase: 'founding year', subject: 'organisation', object: 'year', optional: false },
  headquarters: { phrase: 'headquarters', subject: 'organisation', object: 'city', optional: false },
  industry: { phrase: 'industry', subject: 'organisation', object: 'literal', optional: false },
  creator: { phrase: 'creator', subject: 'work', object: 'person', optional: false },
  publisher: { phrase: 'publisher', subject: 'work', object: 'organisation', optional: false },
  releaseYear: { phrase: 'release year', subject: 'work', object: 'year', optional: false },
  genre: { phrase: 'genre', subject: 'work', object: 'literal', optional: false },
  capital: { phrase: 'capital', subject: 'country', object: 'city', optional: true },
  currency: { phrase: 'currency', subject: 'country', object: 'literal', optional: false },
  language: { phrase: 'language', subject: 'country', object: 'literal', optional: false },
} as const satisfies Record<string, RelationSpec>;

export type Relation = keyof typeof RELATIONS;
export const RELATION_NAMES = Object.keys(RELATIONS) as Relation[];

/** A fact's value: another entity (by id) or a literal such as a year or a genre. */
export type FactValue = { entity: string } | { literal: string };

export interface Entity {
  id: string;
  kind: EntityKind;
  name: string;
  /** Other accepted spellings of the name (answer aliases). */
  aliases: string[];
  /** A short description used in the passage lead ("novel", "banking organisation"). */
  description: string;
  facts: Partial<Record<Relation, FactValue>>;
}

export interface World {
  seed: number;
  entities: Entity[];
  byId: Map<string, Entity>;
}

const FIRST_NAMES = [
  'Alma', 'Boris', 'Clara', 'Dario', 'Edith', 'Felix', 'Greta', 'Hugo', 'Ines', 'Jonas', 'Karin', 'Leon',
  'Mira', 'Nils', 'Olga', 'Pavel', 'Rosa', 'Silas', 'Tilda', 'Ugo', 'Vera', 'Walter', 'Yara', 'Zeno',
  'Anton', 'Bianca', 'Cyril', 'Dora', 'Emil', 'Flora', 'Gideon', 'Hanna', 'Ivo', 'Jana', 'Kasper', 'Lena',
  'Marek', 'Nora', 'Oskar', 'Petra', 'Quentin', 'Rita', 'Stefan', 'Tara', 'Viktor', 'Wanda', 'Xenia', 'Yusuf',
  'Adele', 'Bruno', 'Celia', 'Dmitri', 'Elsa', 'Frida', 'Gustav', 'Helga', 'Igor', 'Judit', 'Konrad', 'Lotte',
];
const LAST_NAMES = [
  'Berg', 'Castell', 'Dahl', 'Engel', 'Falk', 'Gruber', 'Hale', 'Iver', 'Janssen', 'Kerr', 'Lind', 'Moreau',
  'Novak', 'Orlov', 'Pike', 'Quist', 'Rask', 'Storm', 'Thorne', 'Ulman', 'Voss', 'Wren', 'Yates', 'Zoller',
  'Ahlberg', 'Brandt', 'Crane', 'Dorsey', 'Eklund', 'Ferro', 'Graves', 'Holm', 'Imre', 'Jovic', 'Kessler',
  'Larkin', 'Mott', 'Nyberg', 'Olsen', 'Pryce', 'Reyes', 'Sandor', 'Tamm', 'Varga', 'Weller', 'Yoder', 'Zima',
  'Abbott', 'Blume', 'Corwin', 'Drake', 'Ellery', 'Fenwick', 'Gale', 'Harlow', 'Ingram', 'Juno', 'Kite', 'Lowe',
];
const SYLLABLES = [
  'ka', 'lo', 've', 'ri', 'dan', 'mor', 'tel', 'sa', 'bru', 'nix', 'ar', 'quel', 'fen', 'os', 'ta', 'vin',
  'ul', 'gor', 'li', 'ben', 'zar', 'em', 'tho', 'pa',
];
const CITY_SUFFIXES = ['Falls', 'Harbor', 'Springs', 'Hills', 'Bay', 'Ford', 'Valley', 'Point', 'Crossing', 'Heights'];
const ORG_KINDS = [
  { word: 'Press', industry: 'publishing' },
  { word: 'Studios', industry: 'film' },
  { word: 'Records', industry: 'music' },
  { word: 'Bank', industry: 'banking' },
  { word: 'Motors', industry: 'automotive' },
  { word: 'Labs', industry: 'research' },
  { word: 'Systems', industry: 'software' },
  { word: 'Foods', industry: 'food' },
  { word: 'Airlines', industry: 'aviation' },
  { word: 'Mining', industry: 'mining' },
];
const WORK_KINDS = [
  { kind: 'novel', publisherIndustry: 'publishing', genres: ['mystery', 'romance', 'satire', 'fantasy', 'memoir'] },
  { kind: 'film', publisherIndustry: 'film', genres: ['western', 'comedy', 'thriller', 'documentary', 'drama'] },
  { kind: 'album', publisherIndustry: 'music', genres: ['jazz', 'folk', 'blues', 'opera', 'techno'] },
];
const ADJECTIVES = [
  'Silent', 'Golden', 'Broken', 'Hidden', 'Last', 'Crimson', 'Distant', 'Frozen', 'Wild', 'Quiet', 'Burning',
  'Lonely', 'Hollow', 'Bright', 'Velvet', 'Iron', 'Paper', 'Northern', 'Secret', 'Endless', 'Fading', 'Little',
  'Sudden', 'Ancient', 'Restless', 'Glass', 'Emerald', 'Scarlet', 'Silver', 'Winter', 'Summer', 'Midnight',
  'Salt', 'Stone', 'Copper', 'Narrow', 'Open', 'Falling', 'Sleeping', 'Wandering',
];
const NOUNS = [
  'River', 'Garden', 'Mirror', 'Harbor', 'Letter', 'Lantern', 'Orchard', 'Bridge', 'Tower', 'Shore', 'Meadow',
  'Voyage', 'Promise', 'Machine', 'Forest', 'Season', 'Island', 'Kingdom', 'Station', 'Window', 'Violin',
  'Compass', 'Feather', 'Engine', 'Archive', 'Signal', 'Canyon', 'Festival', 'Theatre', 'Comet', 'Anchor',
  'Crown', 'Ladder', 'Market', 'Chapel', 'Desert', 'Glacier', 'Horizon', 'Journey', 'Labyrinth', 'Monument',
  'Notebook', 'Ocean', 'Pilgrim', 'Quarry', 'Riddle', 'Sparrow', 'Tide', 'Valley', 'Whisper',
];
const OCCUPATIONS = [
  'architect', 'painter', 'surgeon', 'chemist', 'novelist', 'sculptor', 'pilot', 'engineer', 'historian',
  'composer', 'botanist', 'lawyer', 'journalist', 'astronomer', 'photographer', 'banker', 'diplomat', 'chef',
  'teacher', 'geologist',
];
const CURRENCIES = ['crown', 'mark', 'florin', 'ducat', 'thaler', 'shilling', 'guilder', 'lira', 'real', 'dinar'];
const LANGUAGES = ['Ostric', 'Valen', 'Morish', 'Kelvic', 'Tarnese', 'Quellan', 'Brunic', 'Safic', 'Dorvic', 'Lumen'];

/** Entity counts for a corpus of `passages` passages (persons 3 passages each, others 2, countries 1). */
export function worldSizes(passages: number): Record<EntityKind, number> {
  const scale = passages / 10_000;
  return {
    person: Math.max(30, Math.round(1600 * scale)),
    city: Math.max(12, Math.round(600 * scale)),
    country: Math.max(4, Math.round(20 * scale)),
    organisation: Math.max(20, Math.round(1000 * scale)),
    work: Math.max(20, Math.round(1000 * scale)),
  };
}

function capitalise(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

/** Draws names until one is unused; fails loudly if the word lists cannot supply enough unique names. */
function uniqueName(rng: Rng, used: Set<string>, make: (rng: Rng) => string): string {
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const name = make(rng);
    if (!used.has(name)) {
      used.add(name);
      return name;
    }
  }
  throw new Error('deepsearch world: ran out of unique names; lower the passage count');
}

const placeRoot = (rng: Rng) => capitalise(rng.pick(SYLLABLES) + rng.pick(SYLLABLES));
const personName = (rng: Rng) => `${rng.pick(FIRST_NAMES)} ${rng.pick(LAST_NAMES)}`;
export const NAME_MAKERS: Record<EntityKind, (rng: Rng) => string> = {
  person: personName,
  city: (rng) => `${placeRoot(rng)} ${rng.pick(CITY_SUFFIXES)}`,
  country: (rng) => `${placeRoot(rng)}ia`,
  organisation: (rng) => `${rng.bool() ? rng.pick(LAST_NAMES) : placeRoot(rng)} ${rng.pick(ORG_KINDS).word}`,
  work: (rng) => `The ${rng.pick(ADJECTIVES)} ${rng.pick(NOUNS)}`,
};

export function generateWorld(seed: number, passages: number): World {
  if (!Number.isInteger(passages) || passages < 200) {
    throw new Error(`deepsearch world: passages must be an integer >= 200, got ${passages}`);
  }
  const rng = new Rng(seed).fork('world');
  const sizes = worldSizes(passages);
  const used = new Set<string>();
  const entities: Entity[] = [];
  const make = (kind: EntityKind, count: number): Entity[] => {
    const names = rng.fork(`names/${kind}`);
    const made: Entity[] = [];
    for (let i = 0; i < count; i++) {
      const name = uniqueName(names, used, NAME_MAKERS[kind]);
      const entity: Entity = { id: `${kind}-${i}`, kind, name, aliases: [], description: kind, facts: {} };
      made.push(entity);
      entities.push(entity);
    }
    return made;
  };
  const countries = make('country', sizes.country);
  const cities = make('city', sizes.city);
  const people = make('person', sizes.person);
  const orgs = make('organisation', sizes.organisation);
  const works = make('work', sizes.work);

  const year = (lo: number, hi: number) => ({ literal: String(rng.int(lo, hi)) });
  const ref = (e: Entity) => ({ entity: e.id });

  for (const country of countries) {
    country.aliases.push(`Republic of ${country.name}`);
    country.facts.currency = { literal: rng.pick(CURRENCIES) };
    country.facts.language = { literal: rng.pick(LANGUAGES) };
  }
  for (const city of cities) {
    city.facts.country = ref(rng.pick(countries));
    city.facts.cityFounded = year(1100, 1900);
  }
  for (const country of countries) {
    const own = cities.filter((c) => (c.facts.country as { entity: string }).entity === country.id);
    if (own.length > 0 && rng.bool(0.85)) country.facts.capital = ref(rng.pick(own));
  }
  for (const person of people) {
    const [first, last] = person.name.split(' ');
    person.aliases.push(`${first} ${String.fromCharCode(65 + rng.int(0, 25))}. ${last}`);
    person.facts.birthplace = ref(rng.pick(cities));
    person.facts.birthYear = year(1850, 1990);
    person.facts.occupation = { literal: rng.pick(OCCUPATIONS) };
    if (rng.bool(0.75)) person.facts.employer = ref(rng.pick(orgs));
  }
  // Marriages pair people off; a person who draws no partner stays unmarried (an unanswerable "spouse").
  const singles = rng.shuffle(people);
  for (let i = 0; i + 1 < singles.length; i += 2) {
    if (!rng.bool(0.55)) continue;
    singles[i].facts.spouse = ref(singles[i + 1]);
    singles[i + 1].facts.spouse = ref(singles[i]);
  }
  for (const city of cities) if (rng.bool(0.8)) city.facts.mayor = ref(rng.pick(people));
  for (const org of orgs) {
    const kindWord = org.name.split(' ').pop()!;
    const industry = ORG_KINDS.find((k) => k.word === kindWord)!.industry;
    org.description = `${industry} company`;
    org.facts.founder = ref(rng.pick(people));
    org.facts.orgFounded = year(1850, 2010);
    org.facts.headquarters = ref(rng.pick(cities));
    org.facts.industry = { literal: industry };
  }
  for (const work of works) {
    const kind = rng.pick(WORK_KINDS);
    work.description = kind.kind;
    const publishers = orgs.filter((o) => (o.facts.industry as { literal: string }).literal === kind.publisherIndustry);
    work.facts.creator = ref(rng.pick(people));
    work.facts.publisher = ref(rng.pick(publishers.length > 0 ? publishers : orgs));
    work.facts.releaseYear = year(1900, 2020);
    work.facts.genre = { literal: rng.pick(kind.genres) };
  }
  return { seed, entities, byId: new Map(entities.map((e) => [e.id, e])) };
}

/** The display value of a fact: the entity's name, or the literal itself. */
export function factText(world: World, value: FactValue): string {
  return 'entity' in value ? world.byId.get(value.entity)!.name : value.literal;
}

/** Golden answers for a fact: the canonical text plus the entity's aliases. */
export function factAnswers(world: World, value: FactValue): string[] {
  if (!('entity' in value)) return [value.literal];
  const e = world.byId.get(value.entity)!;
  return [e.name, ...e.aliases];
}

/** The relations a kind of entity can have. */
export function relationsOf(kind: EntityKind): Relation[] {
  return RELATION_NAMES.filter((r) => RELATIONS[r].subject === kind);
}
