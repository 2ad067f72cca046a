// workerpool's worker: the same tasks, registered the way workerpool documents.
import workerpool from 'workerpool'
import { identity, spin1ms } from './pool-tasks.mjs'

workerpool.worker({ identity, spin1ms })
