// End-to-end check of the built docs site in a real browser.
//
//   pnpm --filter @ipc/docs build && node e2e/run.mjs
//
// Serves .vitepress/dist on 127.0.0.1 (a random port) with VitePress's clean
// URLs, then drives the system's Chromium (never a downloaded browser) through
// every page in both languages and checks that each page:
//   - loads with status 200, shows no 404 page and logs no console error;
//   - is in the right language (html[lang], Chinese text on /zh/ pages);
//   - shows every code block its Markdown source includes, none of them empty;
//   - switches language through the nav's language menu to the same page in
//     the other language;
// and that every internal link on any page resolves (and its #anchor exists).
// Prints one line per failure and a closing "N passed, M failed" line; exits
// non-zero on any failure.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { createServer } from 'node:http'
import { extname, join, normalize, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const docsRoot = fileURLToPath(new URL('..', import.meta.url))
const dist = join(docsRoot, '.vitepress', 'dist')
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
const PAGE_TIMEOUT_MS = 30_000

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.txt': 'text/plain; charset=utf-8',
  '.xml': 'application/xml',
}

// ---------------------------------------------------------------------------
// Results

let passed = 0
const failures = []

function check(ok, what) {
  if (ok) passed++
  else {
    failures.push(what)
    console.log(`FAIL ${what}`)
  }
  return ok
}

// ---------------------------------------------------------------------------
// The static server: VitePress cleanUrls (/guide/queue -> guide/queue.html,
// /guide/ -> guide/index.html) and its 404.html with status 404.

function resolveFile(urlPath) {
  let path
  try {
    path = decodeURIComponent(urlPath)
  } catch {
    return undefined
  }
  const candidates = path.endsWith('/') ? [`${path}index.html`] : [path, `${path}.html`, `${path}/index.html`]
  for (const candidate of candidates) {
    const file = normalize(join(dist, candidate))
    if (!file.startsWith(dist + sep) && file !== dist) continue
    if (existsSync(file) && statSync(file).isFile()) return file
  }
  return undefined
}

function startServer() {
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1')
    const file = resolveFile(url.pathname)
    if (!file) {
      const notFound = join(dist, '404.html')
      response.writeHead(404, { 'content-type': CONTENT_TYPES['.html'] })
      response.end(existsSync(notFound) ? readFileSync(notFound) : 'Not found')
      return
    }
    response.writeHead(200, {
      'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
      'cache-control': 'no-store',
    })
    response.end(readFileSync(file))
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve(server))
  })
}

// ---------------------------------------------------------------------------
// Pages: every .html of the build but 404.html, with the Markdown it came from.

function listHtml(dir) {
  const found = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) {
      if (entry.name !== 'assets') found.push(...listHtml(path))
    } else if (entry.name.endsWith('.html')) found.push(relative(dist, path).split(sep).join('/'))
  }
  return found
}

function pagesOfBuild() {
  return listHtml(dist)
    .filter((file) => file !== '404.html')
    .sort()
    .map((file) => {
      const urlPath = `/${file.replace(/(^|\/)index\.html$/, '$1').replace(/\.html$/, '')}`
      const source = file.replace(/\.html$/, '.md')
      return { urlPath, source, zh: urlPath.startsWith('/zh/') }
    })
}

/** Code blocks the page's Markdown includes (`<<<` lines) or writes (``` fences). */
function expectedCodeBlocks(source) {
  const file = join(docsRoot, source)
  if (!existsSync(file)) return 0
  const text = readFileSync(file, 'utf8')
  const snippets = text.match(/^\s*<<<\s+\S/gm)?.length ?? 0
  const fences = (text.match(/^\s*```/gm)?.length ?? 0) / 2
  return snippets + Math.floor(fences)
}

function counterpart(urlPath) {
  return urlPath.startsWith('/zh/') ? urlPath.slice(3) : `/zh${urlPath}`
}

// ---------------------------------------------------------------------------

async function main() {
  if (!existsSync(join(dist, 'index.html'))) {
    console.error(`No build in ${dist}: run \`vitepress build\` (pnpm --filter @ipc/docs build) first.`)
    process.exit(2)
  }
  if (!existsSync(chromiumPath)) {
    const hint = `No Chromium at ${chromiumPath}: apt-get install -y chromium fonts-wqy-microhei (or set CHROMIUM_PATH).`
    // CI must run the browser test; a developer machine without Chromium skips it, saying so.
    if (process.env.CI) {
      console.error(hint)
      process.exit(2)
    }
    console.log(`Skipping the browser test. ${hint}`)
    process.exit(0)
  }

  const server = await startServer()
  const { port } = server.address()
  const origin = `http://127.0.0.1:${port}`
  const pages = pagesOfBuild()
  console.log(`Serving ${dist} at ${origin}; ${pages.length} pages`)

  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
  // Wide enough for the nav bar's language menu (shown from 1280px).
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } })
  // Nothing may leave 127.0.0.1.
  await context.route(
    (url) => url.origin !== origin,
    (route) => route.abort(),
  )

  /** Internal link targets seen on any page: path -> a page that links there. */
  const links = new Map()

  try {
    check(pages.some((page) => page.zh) && pages.some((page) => !page.zh), 'the build has English and Chinese pages')
    for (const page of pages) {
      check(
        pages.some((other) => other.urlPath === counterpart(page.urlPath)),
        `${page.urlPath}: has a page in the other language (${counterpart(page.urlPath)})`,
      )
    }

    for (const page of pages) {
      const tab = await context.newPage()
      const errors = []
      tab.on('console', (message) => {
        if (message.type() === 'error') errors.push(`console: ${message.text()}`)
      })
      tab.on('pageerror', (error) => errors.push(`page error: ${error.message}`))
      tab.on('requestfailed', (request) =>
        errors.push(`request failed: ${request.url()} (${request.failure()?.errorText})`),
      )
      tab.on('response', (response) => {
        if (response.status() >= 400) errors.push(`HTTP ${response.status()}: ${response.url()}`)
      })

      const at = page.urlPath
      const response = await tab.goto(origin + at, { waitUntil: 'load', timeout: PAGE_TIMEOUT_MS })
      check(response?.status() === 200, `${at}: responds 200 (got ${response?.status()})`)
      await tab.waitForSelector('#VPContent', { timeout: PAGE_TIMEOUT_MS })
      await tab.waitForLoadState('networkidle', { timeout: PAGE_TIMEOUT_MS })

      check((await tab.locator('.NotFound').count()) === 0, `${at}: is not the 404 page`)

      const lang = await tab.evaluate(() => document.documentElement.lang)
      check(
        page.zh ? lang === 'zh-Hans' : lang === 'en-US',
        `${at}: html lang is ${page.zh ? 'zh-Hans' : 'en-US'} (got ${lang})`,
      )
      const mainText = (await tab.locator('#VPContent').textContent()) ?? ''
      if (page.zh) check(/[\u4e00-\u9fff]/.test(mainText), `${at}: shows Chinese text`)

      const expected = expectedCodeBlocks(page.source)
      // textContent, not innerText: blocks inside a closed ::: details are hidden.
      const blocks = await tab.locator('#VPContent div[class*="language-"] pre code').allTextContents()
      check(blocks.length >= expected, `${at}: shows ${expected} code blocks (found ${blocks.length})`)
      check(
        blocks.every((text) => text.trim().length > 0 && !text.includes('Code snippet path not found')),
        `${at}: every code block has content`,
      )

      if (page.source.endsWith('benchmarks.md')) {
        check((await tab.locator('.benchmark-results').count()) === 1, `${at}: shows the benchmark results block`)
      }

      const hrefs = await tab.$$eval('a[href]', (anchors) => anchors.map((anchor) => anchor.href))
      for (const href of hrefs) {
        const url = new URL(href)
        if (url.origin !== origin) continue
        if (!links.has(url.pathname + url.hash)) links.set(url.pathname + url.hash, at)
      }

      // The language menu leads to the same page in the other language.
      const switcher = tab.locator('.VPNavBarTranslations')
      if (check((await switcher.count()) === 1, `${at}: has a language menu`)) {
        await switcher.locator('button').hover()
        const link = switcher.locator('.VPMenuLink a').first()
        await link.waitFor({ state: 'visible', timeout: 5_000 })
        await link.click()
        const target = counterpart(at)
        const targetLang = page.zh ? 'en-US' : 'zh-Hans'
        await tab.waitForURL((url) => url.pathname === target, { timeout: PAGE_TIMEOUT_MS }).catch(() => {})
        await tab
          .waitForFunction((lang) => document.documentElement.lang === lang, targetLang, { timeout: PAGE_TIMEOUT_MS })
          .catch(() => {})
        const now = new URL(tab.url()).pathname
        const switchedLang = await tab.evaluate(() => document.documentElement.lang)
        check(
          now === target && switchedLang === targetLang,
          `${at}: the language menu leads to ${target} (got ${now}, lang ${switchedLang})`,
        )
        check((await tab.locator('.NotFound').count()) === 0, `${at}: the other language's page is not the 404 page`)
      }

      check(
        errors.length === 0,
        `${at}: no console errors or failed requests${errors.length ? `\n    ${errors.join('\n    ')}` : ''}`,
      )
      await tab.close()
    }

    // Every internal link resolves, and its #anchor exists on the target page.
    const htmlCache = new Map()
    for (const [link, from] of links) {
      const url = new URL(link, origin)
      let html = htmlCache.get(url.pathname)
      if (html === undefined) {
        const response = await fetch(origin + url.pathname)
        const ok = check(
          response.status === 200,
          `link ${url.pathname} (on ${from}): responds 200 (got ${response.status})`,
        )
        html = ok ? await response.text() : ''
        htmlCache.set(url.pathname, html)
      }
      if (url.hash.length > 1 && html && isHtmlPath(url.pathname)) {
        const id = decodeURIComponent(url.hash.slice(1))
        check(html.includes(`id="${id}"`), `link ${url.pathname}${url.hash} (on ${from}): the anchor exists`)
      }
    }
  } finally {
    await browser.close()
    server.close()
  }

  console.log(`\n${pages.length} pages, ${links.size} internal links checked`)
  console.log(`${passed} passed, ${failures.length} failed`)
  process.exit(failures.length === 0 ? 0 : 1)
}

function isHtmlPath(pathname) {
  const extension = extname(pathname)
  return extension === '' || extension === '.html'
}

main().catch((error) => {
  console.error(error)
  console.log(`${passed} passed, ${failures.length + 1} failed`)
  process.exit(1)
})
