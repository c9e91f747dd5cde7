/**
 * The skills the scripted expert writes, one per template where a skill saves calls: the template's solution as
 * a loop over the lookup it starts with, parameterised by what changes between the variants of a scenario.
 * The call arguments come from the instruction's values (via the task's privileged solution), so the expert types
 * nothing it could not read. Templates missing here (a single call, or a filter the skill language cannot say,
 * such as date windows or text built from a field) are solved call by call.
 */
import type { TaskSpec } from './templates';
import type { Value, World } from './world';

export interface ExpertSkill {
  name: string;
  /** The `def` action that writes it. */
  source: string;
  /** The arguments of `skills.<name>(...)` for this task. */
  args: Record<string, Value>;
}

type Recipe = { body: string; args(spec: TaskSpec, world: World): Record<string, Value> | null };

const quoted = (instruction: string) => /"([^"]*)"/.exec(instruction)?.[1];
const acts = (spec: TaskSpec) => spec.steps.filter((s) => s.kind === 'act');

const RECIPES: Record<string, Recipe> = {
  text_contact: {
    body: '(name, text): for c in phone.search_contacts(query=name) { if c.name == name { phone.send_message(contact_id=c.id, text=text) } }',
    args: (spec, world) => {
      const send = acts(spec)[0];
      return send ? { name: world.tables.contacts[send.args.contact_id as number].name, text: send.args.text } : null;
    },
  },
  like_song: {
    body: '(title): for s in music.search_songs(query=title) { if s.title == title { music.like_song(song_id=s.id) } }',
    args: (spec, world) => {
      const like = acts(spec)[0];
      return like ? { title: world.tables.songs[like.args.song_id as number].title } : null;
    },
  },
  delete_done_todos: {
    body: '(project): for t in todo.list_tasks(project=project, done=true) { todo.delete_task(task_id=t.id) }',
    args: (spec) => ({ project: spec.steps[0].args.project }),
  },
  decline_big_requests: {
    body: '(limit): for r in payments.list_requests(direction="received", status="pending") { if r.amount > limit { payments.decline_request(request_id=r.id) } }',
    args: (spec) => {
      const limit = /over \$(\d+)/.exec(spec.instruction)?.[1];
      return limit === undefined ? null : { limit: Number(limit) };
    },
  },
  text_relation: {
    body: '(relation, text): for c in phone.search_contacts(relation=relation) { phone.send_message(contact_id=c.id, text=text) }',
    args: (spec) => {
      const text = quoted(spec.instruction);
      return text === undefined ? null : { relation: spec.steps[0].args.relation, text };
    },
  },
  delete_notes_mentioning: {
    body: '(word): for n in notes.search_notes(query=word) { notes.delete_note(note_id=n.id) }',
    args: (spec) => ({ word: spec.steps[0].args.query }),
  },
  artist_to_playlist: {
    body: '(artist, playlist): for p in music.list_playlists() { if p.name == playlist { for s in music.search_songs(artist=artist) '
      + '{ if s.id not in p.song_ids { music.add_to_playlist(playlist_id=p.id, song_id=s.id) } } } }',
    args: (spec, world) => {
      const add = acts(spec)[0];
      return add ? { artist: spec.steps[0].args.artist, playlist: world.tables.playlists[add.args.playlist_id as number].name } : null;
    },
  },
  photo_cleanup: {
    body: '(year, project): for f in files.list_directory(path="~/photos") { if year not in f.created '
      + '{ files.move_file(source=f.path, destination="~/recycle_bin/") } }; todo.add_task(title="Photos cleaned", project=project)',
    args: (spec) => {
      const year = /created in (\d{4})/.exec(spec.instruction)?.[1];
      const project = acts(spec).at(-1)?.args.project;
      return year === undefined || project === undefined ? null : { year, project };
    },
  },
  settle_requests: {
    body: '(relation): for c in phone.search_contacts(relation=relation) { for r in payments.list_requests(direction="received", status="pending") '
      + '{ if r.name == c.name { payments.approve_request(request_id=r.id) } } }; '
      + 'for r in payments.list_requests(direction="received", status="pending") { payments.decline_request(request_id=r.id) }',
    args: (spec) => ({ relation: spec.steps[0].args.relation }),
  },
};

/** The expert's skill for a task of `template`, or null when it solves such tasks call by call. */
export function expertSkill(template: string, spec: TaskSpec, world: World): ExpertSkill | null {
  const recipe = RECIPES[template];
  const args = recipe?.args(spec, world);
  if (!recipe || !args) return null;
  return { name: template, source: `def ${template}${recipe.body}`, args };
}
