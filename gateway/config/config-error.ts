// A config that failed validation: one error listing every problem with its path, e.g.
// `services[1].endpoints[0]: "10.0.0.5" is not host:port`.
import { GatewayError } from '../errors.js';

export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
}

export class ConfigError extends GatewayError {
  readonly problems: readonly ConfigProblem[];

  constructor(source: string, problems: readonly ConfigProblem[], options?: { cause?: unknown }) {
    const lines = problems.map((p) => `  ${p.path || '(top level)'}: ${p.message}`);
    super('CONFIG_INVALID', `${source} is invalid:\n${lines.join('\n')}`, options);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Formats a schema path (["services", 1, "endpoints", 0]) as `services[1].endpoints[0]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}
