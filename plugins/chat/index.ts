/** Plugin manifest: IM sessions (Skype for Business / Lync SIP IM) to transcripts, for users with the chat licence. */
import { definePlugin, TAPLINE_API } from '../../core/contract';
import { Tokens } from '../../core/tokens';
import { ChatRecorder, type ChatOptions } from './recorder';
import optionsSchema from './options.schema.json';

export const CHAT = 'chat';
/** The plugin's recorder, registered in its container (tests and embedders read `finished` from it). */
export const ChatRecorderToken = Symbol.for('tapline.chat.Recorder');

export const chatManifest = definePlugin<ChatOptions>({
  name: CHAT,
  kind: 'chat',
  api: TAPLINE_API,
  description: 'Chat recording: IM sessions (INVITE m=message, MESSAGE, BYE; IM MCU conference chats) to transcripts, for users with the chat licence',
  optionsSchema,
  register(ctx) {
    const users = ctx.container.resolve(Tokens.Users);
    const recorder = new ChatRecorder(ctx.options, users, ctx.log, ctx.counters, ctx.events);
    ctx.container.register(ChatRecorderToken, { useValue: recorder });
    if (users.size === 0 && !ctx.options.recordAll) {
      ctx.log.warn('chat: no users are configured (users / usersFile), so no IM session has a licensed user and no transcript will be kept; set "recordAll": true to keep every session');
    } else if (!ctx.options.recordAll && !users.all().some((u) => u.chat)) {
      ctx.log.warn('chat: no configured user holds the chat licence ("chat": true): no transcript will be kept');
    }
    // Transcripts are written before the storage plugin stops: the kernel aborts the signal before any stop().
    ctx.signal.addEventListener('abort', () => recorder.close(), { once: true });
    return {
      start: () => {
        // Resolved at start: the storage plugin may be registered after this one.
        recorder.store = ctx.container.isRegistered(Tokens.Transcripts, true) ? ctx.container.resolve(Tokens.Transcripts) : undefined;
        if (recorder.store === undefined) ctx.log.warn('chat: no storage plugin keeps transcripts (enable storage-local): transcripts are kept in memory only');
        recorder.attach(ctx.container.resolve(Tokens.Bus), ctx.container.resolve(Tokens.Dialogs), ctx.clock);
      },
      stop: () => recorder.close(),
    };
  },
});

export default chatManifest;
export { ChatRecorder } from './recorder';
