import fc from 'fast-check';
import { ParseError, formatCall, parseCall } from '../../../envs/apps/protocol';

describe('apps protocol parser', () => {
  it('parses strings, integers, booleans and escapes', () => {
    expect(parseCall('phone.send_message(token="ab12cd", contact_id=3, text="say \\"hi\\"")\n')).toEqual({
      app: 'phone', api: 'send_message', args: { token: 'ab12cd', contact_id: 3, text: 'say "hi"' },
    });
    expect(parseCall('todo.list_tasks(done=false)').args).toEqual({ done: false });
    expect(parseCall('supervisor.show_profile()').args).toEqual({});
  });

  it.each([
    ['', /empty action/],
    ['phone.login', /malformed call/],
    ['phone.login("a")', /argument name/],
    ['phone.login(username="a" password="b")', /"," or "\)"/],
    ['phone.login(username="a", username="b")', /duplicate argument username/],
    ['phone.login(username="a)', /unterminated string/],
    ['phone.login(username=abc)', /bad value for username/],
    ['phone.login() extra', /after the closing parenthesis/],
    ['phone.login(x="\\n")', /bad escape/],
  ])('rejects %j', (text, message) => {
    expect(() => parseCall(text)).toThrow(ParseError);
    expect(() => parseCall(text)).toThrow(message);
  });

  it('reads back every call it formats', () => {
    const value = fc.oneof(fc.string(), fc.integer({ min: -1000, max: 1000 }), fc.boolean());
    const name = fc.stringMatching(/^[a-z_][a-z0-9_]{0,8}$/);
    fc.assert(fc.property(name, name, fc.dictionary(name, value, { maxKeys: 4 }), (app, api, args) => {
      const text = formatCall(app, api, args);
      fc.pre(!text.includes('\n'));
      expect(parseCall(text)).toEqual({ app, api, args });
    }), { numRuns: 300 });
  });
});
