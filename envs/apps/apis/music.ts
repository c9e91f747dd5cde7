/** music: songs, likes and playlists. */
import { ApiError, findRow, pageParam, param, renderList } from '../api-spec';
import { renderRecord } from '../protocol';
import { insertRow, rows } from '../world';
import { api, done, loginApi, matches, type AppDefinition } from './define';

const A = 'music';

export const musicApp: AppDefinition = {
  name: A,
  description: 'songs, likes and playlists',
  apis: [
    loginApi(A),
    api(A, 'search_songs', 'List songs whose title contains query and/or by an artist.',
      [param('query', 'string', 'part of the title', false), param('artist', 'string', 'artist name', false), pageParam],
      ({ world }, a) => renderList(rows(world, 'songs')
        .filter((s) => matches(s.title, a.query) && (a.artist === undefined || s.artist === a.artist))
        .map((s) => ({ ...s })), a.page as number | undefined)),
    api(A, 'like_song', 'Like a song.', [param('song_id', 'int', 'song id')], ({ world }, a) => {
      const s = findRow(world, 'songs', a.song_id, 'song');
      if (s.liked) throw new ApiError(409, `song ${s.id} is already liked`);
      s.liked = true;
      return done();
    }),
    api(A, 'unlike_song', 'Remove a like.', [param('song_id', 'int', 'song id')], ({ world }, a) => {
      const s = findRow(world, 'songs', a.song_id, 'song');
      if (!s.liked) throw new ApiError(409, `song ${s.id} is not liked`);
      s.liked = false;
      return done();
    }),
    api(A, 'list_playlists', 'List playlists.', [pageParam],
      ({ world }, a) => renderList(rows(world, 'playlists').map((p) => ({ ...p })), a.page as number | undefined)),
    api(A, 'show_playlist', 'Show a playlist\'s songs.', [param('playlist_id', 'int', 'playlist id')], ({ world }, a) => {
      const p = findRow(world, 'playlists', a.playlist_id, 'playlist');
      const songs = (p.song_ids as number[]).map((id) => world.tables.songs[id]).filter(Boolean);
      return [renderRecord({ id: p.id, name: p.name }), ...songs.map((s) => renderRecord({ ...s }))].join('\n');
    }),
    api(A, 'create_playlist', 'Create an empty playlist.', [param('name', 'string', 'name')],
      ({ world }, a) => done({ playlist_id: insertRow(world, 'playlists', { name: a.name, song_ids: [] }).id })),
    api(A, 'add_to_playlist', 'Add a song to a playlist.',
      [param('playlist_id', 'int', 'playlist id'), param('song_id', 'int', 'song id')], ({ world }, a) => {
        const p = findRow(world, 'playlists', a.playlist_id, 'playlist');
        findRow(world, 'songs', a.song_id, 'song');
        const ids = p.song_ids as number[];
        if (ids.includes(a.song_id as number)) throw new ApiError(409, `song ${String(a.song_id)} is already in the playlist`);
        p.song_ids = [...ids, a.song_id as number].sort((x, y) => x - y);
        return done();
      }),
    api(A, 'remove_from_playlist', 'Remove a song from a playlist.',
      [param('playlist_id', 'int', 'playlist id'), param('song_id', 'int', 'song id')], ({ world }, a) => {
        const p = findRow(world, 'playlists', a.playlist_id, 'playlist');
        const ids = p.song_ids as number[];
        if (!ids.includes(a.song_id as number)) throw new ApiError(404, `song ${String(a.song_id)} is not in the playlist`);
        p.song_ids = ids.filter((id) => id !== a.song_id);
        return done();
      }),
  ],
};
