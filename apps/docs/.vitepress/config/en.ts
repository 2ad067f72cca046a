import { type DefaultTheme, defineConfig } from 'vitepress'

export const en = defineConfig({
  lang: 'en-US',
  description:
    "Python's multiprocessing for Node.js: Queue, Pipe, shared Value and Array, Semaphore, across processes through real shared memory.",
  themeConfig: {
    nav: nav(),
    sidebar: {
      '/guide/': { base: '/guide/', items: sidebarGuide() },
      '/reference/': { base: '/reference/', items: sidebarReference() },
    },
    footer: {
      message: 'Released under the MIT License.',
    },
  },
})

function nav(): DefaultTheme.NavItem[] {
  return [
    { text: 'Tutorial', link: '/guide/', activeMatch: '^/guide/(?!python)' },
    { text: 'Coming from Python', link: '/guide/python', activeMatch: '^/guide/python' },
    { text: 'Reference', link: '/reference/', activeMatch: '^/reference/' },
    { text: 'Benchmarks', link: '/benchmarks', activeMatch: '^/benchmarks' },
  ]
}

function sidebarGuide(): DefaultTheme.SidebarItem[] {
  return [
    {
      text: 'How many ways can Node.js processes communicate?',
      items: [
        { text: 'Overview', link: '/' },
        { text: 'What Node gives you already', link: 'node-builtins' },
      ],
    },
    {
      text: 'The ways',
      items: [
        { text: '1. Queue', link: 'queue' },
        { text: '2. Pipe', link: 'pipe' },
        { text: '3. Shared memory: Value and Array', link: 'shared-memory' },
        { text: '4. Semaphore', link: 'semaphore' },
        { text: '5. Event, Condition, Barrier', link: 'sync' },
      ],
    },
    {
      text: 'Using them well',
      items: [
        { text: 'A pool of workers', link: 'pool' },
        { text: 'Choosing between them', link: 'choosing' },
        { text: 'Waiting, sync twins and errors', link: 'waiting-and-errors' },
        { text: 'Security model', link: 'security' },
        { text: 'Platforms', link: 'platforms' },
        { text: 'Coming from Python', link: 'python' },
        { text: 'Node and Python together', link: 'node-and-python' },
        { text: 'Beyond one machine (Redis)', link: 'beyond-one-machine' },
      ],
    },
    { text: 'API reference', base: '/reference/', link: '/' },
  ]
}

function sidebarReference(): DefaultTheme.SidebarItem[] {
  return [
    {
      text: 'API reference',
      items: [
        { text: 'Conventions and errors', link: '/' },
        { text: '@ipc/core', link: 'core' },
        { text: '@ipc/queue', link: 'queue' },
        { text: '@ipc/pipe', link: 'pipe' },
        { text: '@ipc/shared', link: 'shared' },
        { text: '@ipc/semaphore', link: 'semaphore' },
        { text: '@ipc/sync', link: 'sync' },
        { text: '@ipc/pool', link: 'pool' },
      ],
    },
    { text: 'Tutorial', base: '/guide/', link: '/' },
  ]
}
