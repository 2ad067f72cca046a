import { type DefaultTheme, defineConfig } from 'vitepress'

export const zh = defineConfig({
  lang: 'zh-Hans',
  description:
    '把 Python 的 multiprocessing 带到 Node.js：Queue、Pipe、共享的 Value 与 Array、Semaphore，通过真正的共享内存跨进程使用。',
  themeConfig: {
    nav: nav(),
    sidebar: {
      '/zh/guide/': { base: '/zh/guide/', items: sidebarGuide() },
      '/zh/reference/': { base: '/zh/reference/', items: sidebarReference() },
    },
    footer: {
      message: '基于 MIT 许可发布',
    },
    docFooter: { prev: '上一页', next: '下一页' },
    outline: { label: '页面导航' },
    lastUpdated: { text: '最后更新于' },
    notFound: {
      title: '页面未找到',
      quote: '你要找的页面不存在，也许它换了地址。',
      linkLabel: '前往首页',
      linkText: '带我回首页',
    },
    langMenuLabel: '多语言',
    returnToTopLabel: '回到顶部',
    sidebarMenuLabel: '菜单',
    darkModeSwitchLabel: '主题',
    lightModeSwitchTitle: '切换到浅色模式',
    darkModeSwitchTitle: '切换到深色模式',
    skipToContentLabel: '跳到正文',
  },
})

function nav(): DefaultTheme.NavItem[] {
  return [
    { text: '教程', link: '/zh/guide/', activeMatch: '^/zh/guide/(?!python)' },
    { text: '从 Python 过来', link: '/zh/guide/python', activeMatch: '^/zh/guide/python' },
    { text: 'API 参考', link: '/zh/reference/', activeMatch: '^/zh/reference/' },
    { text: '性能测试', link: '/zh/benchmarks', activeMatch: '^/zh/benchmarks' },
  ]
}

function sidebarGuide(): DefaultTheme.SidebarItem[] {
  return [
    {
      text: 'Node.js 进程间通信的方式有几种？',
      items: [
        { text: '概览', link: '/' },
        { text: 'Node 自带的能力', link: 'node-builtins' },
      ],
    },
    {
      text: '各种方式',
      items: [
        { text: '1. 队列 Queue', link: 'queue' },
        { text: '2. 管道 Pipe', link: 'pipe' },
        { text: '3. 共享内存：Value 与 Array', link: 'shared-memory' },
        { text: '4. 信号量 Semaphore', link: 'semaphore' },
        { text: '5. 协调进程：Event、Condition、Barrier', link: 'sync' },
      ],
    },
    {
      text: '用好它们',
      items: [
        { text: '工作进程池 Pool', link: 'pool' },
        { text: '如何选择', link: 'choosing' },
        { text: '等待、同步版本与错误', link: 'waiting-and-errors' },
        { text: '安全模型', link: 'security' },
        { text: '平台', link: 'platforms' },
        { text: '从 Python 过来', link: 'python' },
        { text: 'Node 与 Python 协同', link: 'node-and-python' },
        { text: '跨越单台机器（Redis）', link: 'beyond-one-machine' },
      ],
    },
    { text: 'API 参考', base: '/zh/reference/', link: '/' },
  ]
}

function sidebarReference(): DefaultTheme.SidebarItem[] {
  return [
    {
      text: 'API 参考',
      items: [
        { text: '通用约定与错误', link: '/' },
        { text: '@ipc/core', link: 'core' },
        { text: '@ipc/queue', link: 'queue' },
        { text: '@ipc/pipe', link: 'pipe' },
        { text: '@ipc/shared', link: 'shared' },
        { text: '@ipc/semaphore', link: 'semaphore' },
        { text: '@ipc/sync', link: 'sync' },
        { text: '@ipc/pool', link: 'pool' },
      ],
    },
    { text: '教程', base: '/zh/guide/', link: '/' },
  ]
}

/** Local search labels for the zh locale (VitePress does not translate them itself). */
export const searchLocales: Record<string, Partial<DefaultTheme.LocalSearchOptions>> = {
  zh: {
    translations: {
      button: { buttonText: '搜索文档', buttonAriaLabel: '搜索文档' },
      modal: {
        displayDetails: '显示详细列表',
        resetButtonTitle: '清除查询条件',
        backButtonTitle: '关闭搜索',
        noResultsText: '没有找到相关结果',
        footer: {
          selectText: '选择',
          selectKeyAriaLabel: '回车',
          navigateText: '切换',
          navigateUpKeyAriaLabel: '上方向键',
          navigateDownKeyAriaLabel: '下方向键',
          closeText: '关闭',
          closeKeyAriaLabel: 'Esc',
        },
      },
    },
  },
}
