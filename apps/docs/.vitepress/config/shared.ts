import { defineConfig } from 'vitepress'
import { searchLocales } from './zh'

/**
 * The path the site is served under. Local dev, `pnpm docs:build` and the e2e
 * test use `/`; the GitHub Pages build of https://ipc-js.github.io/ipc/ sets
 * `DOCS_BASE=/ipc/`, the prefix the package READMEs and `homepage` fields link to.
 */
const base = process.env.DOCS_BASE || '/'
if (!base.startsWith('/') || !base.endsWith('/')) {
  throw new Error(`DOCS_BASE must start and end with "/", received ${JSON.stringify(base)}`)
}

export const shared = defineConfig({
  title: '@ipc',
  base,
  cleanUrls: true,
  lastUpdated: false,
  // Every link in the site must resolve: a dead link fails the build.
  ignoreDeadLinks: false,
  // Only Markdown pages are pages. The examples, tests and the e2e driver live
  // beside them but are code, pulled into pages with `<<< @/examples/…`.
  srcExclude: ['README.md', 'examples/**', 'test/**', 'e2e/**'],
  head: [
    // head tags are not rewritten with the base, unlike links in pages
    ['link', { rel: 'icon', type: 'image/svg+xml', href: `${base}logo.svg` }],
    ['meta', { name: 'theme-color', content: '#3c8772' }],
  ],
  markdown: {
    // Example outputs (.out, .out.unordered) are included as plain text.
    languageAlias: { out: 'text', unordered: 'text' },
  },
  themeConfig: {
    logo: { src: '/logo.svg', width: 24, height: 24 },
    search: {
      provider: 'local',
      options: { locales: searchLocales },
    },
  },
})
