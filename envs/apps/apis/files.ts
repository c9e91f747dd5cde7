/** files: a small file system addressed by paths like ~/photos/beach.jpg. */
import { ApiError, pageParam, param, renderList } from '../api-spec';
import { renderRecord } from '../protocol';
import { insertRow, rows, type Row, type World } from '../world';
import { api, done, loginApi, type AppDefinition } from './define';

const A = 'files';
const PATH = /^~(\/[A-Za-z0-9_.-]+)+$/;

function checkPath(path: unknown): string {
  if (!PATH.test(path as string)) throw new ApiError(422, `bad path ${String(path)}: use ~/folder/name`);
  return path as string;
}

function fileAt(world: World, path: unknown): Row {
  const p = checkPath(path);
  const f = rows(world, 'files').find((r) => r.path === p);
  if (!f) throw new ApiError(404, `file ${p} not found`);
  return f;
}

/** A destination ending in "/" or naming an existing folder keeps the file name. */
function destination(world: World, source: string, dest: string): string {
  const name = source.slice(source.lastIndexOf('/') + 1);
  const folder = dest.endsWith('/') ? dest.slice(0, -1) : dest;
  const isFolder = dest.endsWith('/') || rows(world, 'files').some((r) => (r.path as string).startsWith(`${folder}/`));
  const target = checkPath(isFolder ? `${folder}/${name}` : dest);
  if (rows(world, 'files').some((r) => r.path === target)) throw new ApiError(409, `${target} already exists`);
  return target;
}

export const filesApp: AppDefinition = {
  name: A,
  description: 'files and folders',
  apis: [
    loginApi(A),
    api(A, 'list_directory', 'List the files in a folder with their creation dates.',
      [param('path', 'string', 'folder, e.g. ~/photos'), pageParam],
      ({ world }, a) => {
        const dir = checkPath((a.path as string).replace(/\/$/, ''));
        const list = rows(world, 'files').filter((f) => (f.path as string).slice(0, (f.path as string).lastIndexOf('/')) === dir);
        return renderList(list.map((f) => ({ path: f.path, created: f.created })), a.page as number | undefined);
      }),
    api(A, 'show_file', 'Show one file.', [param('path', 'string', 'file path')],
      ({ world }, a) => {
        const f = fileAt(world, a.path);
        return renderRecord({ path: f.path, created: f.created });
      }),
    api(A, 'create_file', 'Create an empty file.', [param('path', 'string', 'file path')], ({ world }, a) => {
      const p = checkPath(a.path);
      if (rows(world, 'files').some((r) => r.path === p)) throw new ApiError(409, `${p} already exists`);
      insertRow(world, 'files', { path: p, created: world.today });
      return done();
    }),
    api(A, 'move_file', 'Move or rename a file; a folder destination keeps the name.',
      [param('source', 'string', 'file path'), param('destination', 'string', 'new path or folder')],
      ({ world }, a) => {
        const f = fileAt(world, a.source);
        f.path = destination(world, f.path as string, a.destination as string);
        return done({ path: f.path });
      }),
    api(A, 'copy_file', 'Copy a file.', [param('source', 'string', 'file path'), param('destination', 'string', 'new path or folder')],
      ({ world }, a) => {
        const f = fileAt(world, a.source);
        const path = destination(world, f.path as string, a.destination as string);
        insertRow(world, 'files', { path, created: f.created });
        return done({ path });
      }),
    api(A, 'delete_file', 'Delete a file for good.', [param('path', 'string', 'file path')], ({ world }, a) => {
      delete world.tables.files[fileAt(world, a.path).id];
      return done();
    }),
  ],
};
