import { configSchema, ENV_NAMES } from './config.js';

/**
 * Renders the configuration reference (docs/configuration.md) from the one config schema,
 * so the docs cannot drift from what start-up validates. A test compares the file with this output.
 */
export function renderConfigReference(): string {
  const shape = configSchema.shape;
  const lines = [
    '# Configuration reference',
    '',
    'Generated from `src/kernel/config.ts` (`npm run docs:config`); a test fails when this file is out of date.',
    '',
    'Sources, later ones winning: built-in defaults, the JSON file named by `GATEHOUSE_CONFIG` (keys as in the second column), environment variables. Gatehouse validates everything at start and names each bad setting.',
    '',
    '| Environment variable | Config file key | Default | Meaning |',
    '|---|---|---|---|',
  ];
  for (const [key, schema] of Object.entries(shape)) {
    const env = ENV_NAMES[key as keyof typeof ENV_NAMES];
    const desc = (schema.description ?? '').replace(/^[A-Z_]+: /, '');
    let def = '';
    try {
      const v = (schema as unknown as { parse: (x: unknown) => unknown }).parse(undefined);
      def = v === undefined ? '' : `\`${typeof v === 'object' ? JSON.stringify(v) : String(v)}\``;
    } catch {
      def = '';
    }
    lines.push(`| \`${env}\` | \`${key}\` | ${def || '—'} | ${desc} |`);
  }
  return `${lines.join('\n')}\n`;
}
