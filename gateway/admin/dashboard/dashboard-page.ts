// The dashboard page served at `/` on the admin listener: dashboard.html with dashboard.css and
// dashboard.js inlined, so the page is one small response with no other requests than its event stream.
// The files ship beside the code and are read once, on first use.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fromPackageRoot } from '../../package-root.js';

export interface DashboardPage {
  readonly html: string;
  /** Strong validator of `html`, quoted as an ETag header wants it. */
  readonly etag: string;
}

const FOLDER = 'gateway/admin/dashboard';

let page: DashboardPage | undefined;

function asset(name: string): string {
  return readFileSync(fromPackageRoot(`${FOLDER}/${name}`), 'utf8');
}

/** The page; throws (once per call, not cached) when an asset file is missing from the install. */
export function dashboardPage(): DashboardPage {
  if (page) return page;
  const script = asset('dashboard.js');
  if (script.includes('</script')) throw new Error('dashboard.js must not contain "</script"');
  // Function replacers: the assets contain `$` sequences that string replacements would interpret.
  const html = asset('dashboard.html')
    .replace('/*STYLE*/', () => asset('dashboard.css'))
    .replace('/*SCRIPT*/', () => script);
  page = { html, etag: `"${createHash('sha256').update(html).digest('base64url').slice(0, 27)}"` };
  return page;
}
