import { readFileSync } from 'node:fs'
import { native } from '../src/native.ts'
