/** The app registry, and api_docs: introspection over it (AppWorld's show_app_descriptions / show_api_doc). */
import { ApiError, param, signature, type ApiSpec } from '../api-spec';
import { calendarApp } from './calendar';
import { api, type AppDefinition } from './define';
import { filesApp } from './files';
import { musicApp } from './music';
import { notesApp } from './notes';
import { paymentsApp } from './payments';
import { phoneApp } from './phone';
import { supervisorApp } from './supervisor';
import { todoApp } from './todo';

const DOMAIN_APPS: AppDefinition[] = [
  supervisorApp, phoneApp, calendarApp, notesApp, paymentsApp, todoApp, filesApp, musicApp,
];

function appNamed(name: unknown): AppDefinition {
  const app = APPS.find((a) => a.name === name);
  if (!app) throw new ApiError(404, `unknown app ${String(name)}; see api_docs.show_app_descriptions()`);
  return app;
}

const apiDocsApp: AppDefinition = {
  name: 'api_docs',
  description: 'documentation of every app and API',
  apis: [
    api('api_docs', 'show_app_descriptions', 'List the apps.', [],
      () => APPS.map((a) => `${a.name}: ${a.description}`).join('\n'), false),
    api('api_docs', 'show_api_descriptions', 'List an app\'s APIs.', [param('app_name', 'string', 'app')],
      (_ctx, a) => appNamed(a.app_name).apis.map((s) => `${s.name}: ${s.doc}`).join('\n'), false),
    api('api_docs', 'show_api_doc', 'Show how to call one API.',
      [param('app_name', 'string', 'app'), param('api_name', 'string', 'API')], (_ctx, a) => {
        const spec = appNamed(a.app_name).apis.find((s) => s.name === a.api_name);
        if (!spec) throw new ApiError(404, `unknown API ${String(a.api_name)} in ${String(a.app_name)}`);
        return `${signature(spec)}\n${spec.doc}${spec.auth ? ` token from ${spec.app}.login.` : ''}`;
      }, false),
  ],
};

export const APPS: AppDefinition[] = [apiDocsApp, ...DOMAIN_APPS];

const BY_NAME = new Map<string, ApiSpec>(APPS.flatMap((a) => a.apis.map((s) => [`${a.name}.${s.name}`, s] as const)));

export function findApi(app: string, name: string): ApiSpec | undefined {
  return BY_NAME.get(`${app}.${name}`);
}

export function allApis(): ApiSpec[] {
  return [...BY_NAME.values()];
}
