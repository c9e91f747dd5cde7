/** notes: titled text notes. */
import { ApiError, findRow, pageParam, param, renderList } from '../api-spec';
import { renderRecord } from '../protocol';
import { insertRow, rows } from '../world';
import { api, done, loginApi, matches, type AppDefinition } from './define';

const A = 'notes';

export const notesApp: AppDefinition = {
  name: A,
  description: 'titled text notes',
  apis: [
    loginApi(A),
    api(A, 'list_notes', 'List note ids and titles.', [pageParam],
      ({ world }, a) => renderList(rows(world, 'notes').map((n) => ({ id: n.id, title: n.title })),
        a.page as number | undefined)),
    api(A, 'search_notes', 'List notes whose title or content contains query.',
      [param('query', 'string', 'text to find'), pageParam],
      ({ world }, a) => renderList(rows(world, 'notes').filter((n) => matches(n.title, a.query) || matches(n.content, a.query))
        .map((n) => ({ id: n.id, title: n.title })), a.page as number | undefined)),
    api(A, 'show_note', 'Show one note with its content.', [param('note_id', 'int', 'note id')],
      ({ world }, a) => renderRecord(findRow(world, 'notes', a.note_id, 'note'))),
    api(A, 'create_note', 'Create a note.', [param('title', 'string', 'title'), param('content', 'string', 'text')],
      ({ world }, a) => done({ note_id: insertRow(world, 'notes', { title: a.title, content: a.content }).id })),
    api(A, 'update_note', 'Replace a note\'s title or content.',
      [param('note_id', 'int', 'note id'), param('title', 'string', 'new title', false),
        param('content', 'string', 'new content', false)],
      ({ world }, a) => {
        const n = findRow(world, 'notes', a.note_id, 'note');
        if (a.title === undefined && a.content === undefined) throw new ApiError(422, 'nothing to update');
        if (a.title !== undefined) n.title = a.title;
        if (a.content !== undefined) n.content = a.content;
        return done();
      }),
    api(A, 'delete_note', 'Delete a note.', [param('note_id', 'int', 'note id')], ({ world }, a) => {
      findRow(world, 'notes', a.note_id, 'note');
      delete world.tables.notes[a.note_id as number];
      return done();
    }),
  ],
};
