// Writes docs/configuration.md from the config schema (`npm run docs:config`).
import { writeFileSync } from 'node:fs';
import { renderConfigReference } from '../kernel/config-doc.js';

writeFileSync(new URL('../../docs/configuration.md', import.meta.url), renderConfigReference());
