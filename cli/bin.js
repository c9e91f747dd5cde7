#!/usr/bin/env node
// The `ratchet` bin: run the TypeScript CLI through tsx's CommonJS hook.
require('tsx/cjs');
require('./main.ts');
