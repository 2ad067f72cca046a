import { defineConfig } from 'vitepress'
import { searchLocales } from './zh'

export const shared = defineConfig({
  title: '@ipc',
  cleanUrls: true,
  lastUpdated: false,
  // Every link in the site must resolve: a dead link fails the build.
  ignoreDeadLinks: false,
  // Only Markdown pages are pages. The examples, tests and the e2e driver live
  // beside them but are code, pulled into pages with `<<< @/examples/…`.
  srcExclude: ['README.md', 'examples/**', 'test/**', 'e2e/**'],
  head: [
    ['link', { rel: 'icon', type: 'image/svg+xml', href: '/logo.svg' }],
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
