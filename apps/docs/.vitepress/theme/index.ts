import type { Theme } from 'vitepress'
import DefaultTheme from 'vitepress/theme'
import BenchmarkResults from './benchmarks/BenchmarkResults.vue'
import './style.css'

export default {
  extends: DefaultTheme,
  enhanceApp({ app }) {
    app.component('BenchmarkResults', BenchmarkResults)
  },
} satisfies Theme
