/** The lifecycle event hub (contracts/lifecycle.ts): a typed emitter whose throwing listeners are reported, never fatal. */
import { Emitter } from './events';
import type { LifecycleBus, LifecycleEvents } from './contracts/lifecycle';

export class LifecycleHub extends Emitter<LifecycleEvents> implements LifecycleBus {}
