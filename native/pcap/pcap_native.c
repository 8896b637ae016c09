/*
 * Live capture on libpcap for Tapline (plugins/source-live): one pcap handle per interface, read from libuv's loop
 * (uv_poll on libpcap's selectable fd, never a thread or a blocking read), packets handed to JavaScript in batches
 * written into a Buffer that JavaScript owns and this addon holds a strong reference to (the npm `cap` package keeps
 * a bare pointer to its Buffer instead, and crashes once that Buffer is collected).
 *
 * Why a batch: one call into JavaScript per wake-up instead of one per packet. Why TPACKET_V3 (no immediate mode, a
 * short timeout): libpcap's ring then packs packets of any size into blocks, so a 64 MiB buffer holds ~180k G.711 RTP
 * packets; in immediate mode (TPACKET_V2) it holds ~1000 frames of snaplen bytes whatever its size. See
 * plugins/source-live/README.md for the measurements.
 *
 * Batch record layout (little-endian): u32 caplen | u32 len | u32 sec_lo | u32 sec_hi | u32 nsec | caplen bytes.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/socket.h>
#include <uv.h>

#define REC_HEADER 20

typedef struct capture {
  napi_env env;
  pcap_t *pcap;
  uv_poll_t poll;
  int poll_started;
  /* The batch Buffer (strong ref) and its memory; the JS callback onBatch(count, bytes); async context for it. */
  napi_ref batch_ref;
  uint8_t *batch;
  size_t batch_cap;
  size_t batch_used;
  uint32_t batch_count;
  napi_ref cb_ref;
  napi_ref self_ref;
  napi_async_context async;
  /* Packets to read per wake-up before yielding to the event loop (the fd stays readable, so polling resumes). */
  uint32_t budget;
  uint32_t error_wakeups;
  int dispatching;
  int closing;
  int closed;
  int poll_closed;
  int finalized;
  /* Removed on close; in teardown it is removed once the poll handle has closed. */
  napi_async_cleanup_hook_handle cleanup_hook;
  int in_teardown;
} capture;

static napi_value throw_code(napi_env env, const char *code, const char *msg) {
  napi_throw_error(env, code, msg);
  return NULL;
}

static napi_value throw_arg(napi_env env, const char *msg) {
  napi_throw_type_error(env, "PCAP_BAD_ARGUMENT", msg);
  return NULL;
}

static void maybe_free(capture *c) {
  if (c->finalized && (c->poll_closed || !c->poll_started)) free(c);
}

static void on_poll_closed(uv_handle_t *h) {
  capture *c = h->data;
  c->poll_closed = 1;
  /* Tearing down: the environment (and this addon's code) may go once the poll handle is closed, not before. */
  if (c->in_teardown && c->cleanup_hook != NULL) {
    napi_async_cleanup_hook_handle hook = c->cleanup_hook;
    c->cleanup_hook = NULL;
    napi_remove_async_cleanup_hook(hook);
  }
  maybe_free(c);
}

/* Releases everything: the poll handle first (libuv must stop watching the fd before libpcap closes it). */
static void finish_close(capture *c) {
  if (c->closed) return;
  c->closed = 1;
  if (c->cleanup_hook != NULL && !c->in_teardown) {
    napi_remove_async_cleanup_hook(c->cleanup_hook);
    c->cleanup_hook = NULL;
  }
  if (c->poll_started) {
    uv_poll_stop(&c->poll);
    uv_close((uv_handle_t *)&c->poll, on_poll_closed);
  }
  if (c->pcap != NULL) pcap_close(c->pcap);
  c->pcap = NULL;
  napi_env env = c->env;
  if (c->cb_ref != NULL) napi_delete_reference(env, c->cb_ref);
  if (c->batch_ref != NULL) napi_delete_reference(env, c->batch_ref);
  if (c->async != NULL) napi_async_destroy(env, c->async);
  c->cb_ref = c->batch_ref = NULL;
  c->async = NULL;
  c->batch = NULL;
  /* The handle object may now be collected (its finalizer frees the struct once the poll handle is closed too). */
  if (c->self_ref != NULL) napi_delete_reference(env, c->self_ref);
  c->self_ref = NULL;
}

/* Calls the JS callback; an exception it throws is the process's uncaught exception (as in any event callback). */
static void call_js(napi_env env, capture *c, napi_value recv, napi_value cb, size_t argc, napi_value *argv) {
  napi_value result;
  if (napi_make_callback(env, c->async, recv, cb, argc, argv, &result) == napi_ok) return;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) return;
  napi_value err;
  napi_get_and_clear_last_exception(env, &err);
  napi_fatal_exception(env, err);
}

/* Hands the filled part of the batch to JavaScript. An exception thrown there goes to process 'uncaughtException'. */
static void flush(capture *c) {
  if (c->batch_count == 0 || c->cb_ref == NULL) return;
  napi_env env = c->env;
  napi_value cb, recv, argv[2];
  uint32_t count = c->batch_count;
  uint32_t used = (uint32_t)c->batch_used;
  c->batch_count = 0;
  c->batch_used = 0;
  if (napi_get_reference_value(env, c->cb_ref, &cb) != napi_ok || napi_get_global(env, &recv) != napi_ok) return;
  napi_create_uint32(env, count, &argv[0]);
  napi_create_uint32(env, used, &argv[1]);
  call_js(env, c, recv, cb, 2, argv);
}

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes) {
  capture *c = (capture *)user;
  if (c->closing || c->batch == NULL) return;
  size_t caplen = h->caplen;
  if (c->batch_used + REC_HEADER + caplen > c->batch_cap) {
    flush(c);
    if (c->closing || c->batch == NULL) return;
    /* A batch smaller than one record cannot happen (open() checks it); clamp anyway rather than overrun. */
    if (REC_HEADER + caplen > c->batch_cap) caplen = c->batch_cap - REC_HEADER;
  }
  uint8_t *p = c->batch + c->batch_used;
  uint64_t sec = (uint64_t)h->ts.tv_sec;
  uint32_t fields[5] = {(uint32_t)caplen, h->len, (uint32_t)(sec & 0xffffffffu), (uint32_t)(sec >> 32), (uint32_t)h->ts.tv_usec};
  for (int i = 0; i < 5; i++) {
    p[i * 4] = fields[i] & 0xff;
    p[i * 4 + 1] = (fields[i] >> 8) & 0xff;
    p[i * 4 + 2] = (fields[i] >> 16) & 0xff;
    p[i * 4 + 3] = (fields[i] >> 24) & 0xff;
  }
  memcpy(p + REC_HEADER, bytes, caplen);
  c->batch_used += REC_HEADER + caplen;
  c->batch_count++;
}

/*
 * Tells JavaScript about a read problem: onBatch(0, 0, message, fatal). Fatal (the interface disappeared, a read
 * failed): polling stops and the handle should be closed. Not fatal (the interface went down): capture goes on and
 * packets flow again when it comes back up, as libpcap itself does for ENETDOWN.
 */
static void report_problem(capture *c, const char *message, int fatal) {
  if (fatal && c->poll_started) uv_poll_stop(&c->poll);
  napi_env env = c->env;
  napi_value cb, recv, argv[4];
  if (c->cb_ref == NULL || napi_get_reference_value(env, c->cb_ref, &cb) != napi_ok || napi_get_global(env, &recv) != napi_ok) return;
  napi_create_uint32(env, 0, &argv[0]);
  napi_create_uint32(env, 0, &argv[1]);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &argv[2]);
  napi_get_boolean(env, fatal != 0, &argv[3]);
  call_js(env, c, recv, cb, 4, argv);
}

/* Consecutive error wake-ups with nothing read before a socket error counts as fatal (no busy loop on a bad fd). */
#define MAX_ERROR_WAKEUPS 1000

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  capture *c = handle->data;
  if (c->closed || c->pcap == NULL) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(c->env, &scope) != napi_ok) return;
  c->dispatching = 1;
  uint32_t total = 0;
  int n = 0;
  /* An fd error (status < 0) still reads, so that libpcap says what happened. */
  while (!c->closing && total < c->budget) {
    n = pcap_dispatch(c->pcap, (int)(c->budget - total), on_packet, (u_char *)c);
    if (n <= 0) break;
    total += (uint32_t)n;
  }
  if (!c->closing) flush(c);
  if (total > 0) c->error_wakeups = 0;
  if (!c->closing && n < 0 && n != PCAP_ERROR_BREAK) {
    char msg[PCAP_ERRBUF_SIZE];
    snprintf(msg, sizeof msg, "%s", pcap_geterr(c->pcap));
    report_problem(c, msg[0] != '\0' ? msg : "read error", 1);
  } else if (!c->closing && status < 0) {
    /* libuv reports the socket's POLLERR as UV_EBADF and stops watching. libpcap has usually read (and cleared) the
     * socket error already; ENETDOWN (the interface went down) is not fatal, for libpcap nor here. */
    int soerr = 0;
    socklen_t len = sizeof soerr;
    getsockopt(pcap_get_selectable_fd(c->pcap), SOL_SOCKET, SO_ERROR, &soerr, &len);
    if ((soerr != 0 && soerr != ENETDOWN) || ++c->error_wakeups > MAX_ERROR_WAKEUPS) {
      report_problem(c, soerr != 0 ? strerror(soerr) : uv_strerror(status), 1);
    } else if (uv_poll_start(&c->poll, UV_READABLE, on_readable) != 0) {
      report_problem(c, "cannot watch libpcap's descriptor again", 1);
    } else if (c->error_wakeups == 1) {
      report_problem(c, "the interface went down; capture resumes when it comes back up", 0);
    }
  }
  c->dispatching = 0;
  if (c->closing) finish_close(c);
  napi_close_handle_scope(c->env, scope);
}

/* The environment is going away (a worker thread ends) with the capture open: close it, and let Node unload this
 * addon only once libuv has called on_poll_closed (an async cleanup hook; a plain one crashed: the callback's code was
 * unloaded before the worker's loop ran it). */
static void async_cleanup(napi_async_cleanup_hook_handle hook, void *arg) {
  capture *c = arg;
  c->cleanup_hook = hook;
  c->in_teardown = 1;
  c->closing = 1;
  int had_poll = c->poll_started && !c->closed;
  finish_close(c);
  if (!had_poll && c->cleanup_hook != NULL) {
    c->cleanup_hook = NULL;
    napi_remove_async_cleanup_hook(hook);
  }
}

static void finalize_capture(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  capture *c = data;
  c->closing = 1;
  finish_close(c);
  c->finalized = 1;
  maybe_free(c);
}

static int get_string(napi_env env, napi_value v, char *out, size_t cap) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, out, cap, &len) != napi_ok) return 0;
  return len < cap - 1;
}

static int get_uint_prop(napi_env env, napi_value obj, const char *name, uint32_t *out) {
  napi_value v;
  bool has = false;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has) return 1;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return 0;
  return napi_get_value_uint32(env, v, out) == napi_ok;
}

static int get_bool_prop(napi_env env, napi_value obj, const char *name, bool *out) {
  napi_value v;
  bool has = false;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has) return 1;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return 0;
  return napi_get_value_bool(env, v, out) == napi_ok;
}

/* The error pcap_activate() returned, as a code JavaScript can act on without parsing libpcap's text. */
static const char *activate_code(int rc) {
  switch (rc) {
    case PCAP_ERROR_NO_SUCH_DEVICE: return "PCAP_NO_SUCH_DEVICE";
    case PCAP_ERROR_PERM_DENIED: return "PCAP_PERM_DENIED";
    case PCAP_ERROR_PROMISC_PERM_DENIED: return "PCAP_PROMISC_PERM_DENIED";
    case PCAP_ERROR_IFACE_NOT_UP: return "PCAP_IFACE_NOT_UP";
    default: return "PCAP_ERROR";
  }
}

/*
 * open(device, { snaplen, bufferBytes, promiscuous, timeoutMs, budget }, filter, batch: Buffer, onBatch) -> handle
 * Throws Error with code PCAP_NO_SUCH_DEVICE / PCAP_PERM_DENIED / PCAP_PROMISC_PERM_DENIED / PCAP_IFACE_NOT_UP /
 * PCAP_FILTER / PCAP_ERROR and libpcap's own message.
 */
static napi_value open_capture(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 5) return throw_arg(env, "open(device, options, filter, batch, onBatch)");
  char device[256], filter[8192];
  if (!get_string(env, argv[0], device, sizeof device)) return throw_arg(env, "device must be a string of at most 255 bytes");
  if (!get_string(env, argv[2], filter, sizeof filter)) return throw_arg(env, "filter must be a string of at most 8191 bytes");
  uint32_t snaplen = 65535, buffer_bytes = 64u << 20, timeout_ms = 10, budget = 65536;
  bool promisc = false;
  if (!get_uint_prop(env, argv[1], "snaplen", &snaplen) || !get_uint_prop(env, argv[1], "bufferBytes", &buffer_bytes) ||
      !get_uint_prop(env, argv[1], "timeoutMs", &timeout_ms) || !get_uint_prop(env, argv[1], "budget", &budget) ||
      !get_bool_prop(env, argv[1], "promiscuous", &promisc))
    return throw_arg(env, "options: snaplen, bufferBytes, timeoutMs, budget are unsigned integers; promiscuous is a boolean");
  if (snaplen < 64 || snaplen > 262144 || budget == 0) return throw_arg(env, "snaplen must be 64..262144 and budget > 0");
  void *batch;
  size_t batch_len;
  napi_valuetype cbtype;
  if (napi_get_buffer_info(env, argv[3], &batch, &batch_len) != napi_ok) return throw_arg(env, "batch must be a Buffer");
  if (batch_len < REC_HEADER + (size_t)snaplen) return throw_arg(env, "batch must hold at least one record of snaplen bytes");
  if (napi_typeof(env, argv[4], &cbtype) != napi_ok || cbtype != napi_function) return throw_arg(env, "onBatch must be a function");

  char errbuf[PCAP_ERRBUF_SIZE] = "";
  pcap_t *p = pcap_create(device, errbuf);
  if (p == NULL) return throw_code(env, "PCAP_ERROR", errbuf);
  pcap_set_snaplen(p, (int)snaplen);
  pcap_set_promisc(p, promisc ? 1 : 0);
  pcap_set_buffer_size(p, (int)(buffer_bytes > 0x7fffffffu ? 0x7fffffffu : buffer_bytes));
  pcap_set_timeout(p, (int)timeout_ms);
  pcap_set_immediate_mode(p, 0);
  pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
  int rc = pcap_activate(p);
  if (rc < 0) {
    char msg[PCAP_ERRBUF_SIZE + 64];
    const char *text = pcap_geterr(p);
    snprintf(msg, sizeof msg, "%s", text != NULL && text[0] != '\0' ? text : pcap_statustostr(rc));
    pcap_close(p);
    return throw_code(env, activate_code(rc), msg);
  }
  /* PCAP_NETMASK_UNKNOWN: no SIOCGIFADDR look-up (it fails on address-less interfaces); only 'ip broadcast' needs it. */
  struct bpf_program prog;
  if (pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
    char msg[PCAP_ERRBUF_SIZE];
    snprintf(msg, sizeof msg, "%s", pcap_geterr(p));
    pcap_close(p);
    return throw_code(env, "PCAP_FILTER", msg);
  }
  rc = pcap_setfilter(p, &prog);
  pcap_freecode(&prog);
  if (rc != 0 || pcap_setnonblock(p, 1, errbuf) != 0) {
    char msg[PCAP_ERRBUF_SIZE];
    snprintf(msg, sizeof msg, "%s", rc != 0 ? pcap_geterr(p) : errbuf);
    pcap_close(p);
    return throw_code(env, rc != 0 ? "PCAP_FILTER" : "PCAP_ERROR", msg);
  }
  int fd = pcap_get_selectable_fd(p);
  uv_loop_t *loop;
  if (fd < 0 || napi_get_uv_event_loop(env, &loop) != napi_ok) {
    pcap_close(p);
    return throw_code(env, "PCAP_ERROR", "no selectable file descriptor for this interface");
  }

  capture *c = calloc(1, sizeof *c);
  if (c == NULL) {
    pcap_close(p);
    return throw_code(env, "PCAP_ERROR", "out of memory");
  }
  c->env = env;
  c->pcap = p;
  c->batch = batch;
  c->batch_cap = batch_len;
  c->budget = budget;
  napi_value handle, resource_name;
  if (napi_create_object(env, &handle) != napi_ok || napi_wrap(env, handle, c, finalize_capture, NULL, NULL) != napi_ok) {
    pcap_close(p);
    free(c);
    return throw_code(env, "PCAP_ERROR", "cannot create the capture handle");
  }
  napi_create_reference(env, argv[3], 1, &c->batch_ref);
  napi_create_reference(env, argv[4], 1, &c->cb_ref);
  /* An open capture lives until close(), like a socket: JavaScript dropping the handle must not close it. */
  napi_create_reference(env, handle, 1, &c->self_ref);
  napi_create_string_utf8(env, "tapline:pcap", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, handle, resource_name, &c->async);
  napi_add_async_cleanup_hook(env, async_cleanup, c, &c->cleanup_hook);
  c->poll.data = c;
  if (uv_poll_init(loop, &c->poll, fd) != 0) {
    c->closing = 1;
    finish_close(c);
    return throw_code(env, "PCAP_ERROR", "uv_poll_init failed on libpcap's descriptor");
  }
  c->poll_started = 1;
  if (uv_poll_start(&c->poll, UV_READABLE, on_readable) != 0) {
    c->closing = 1;
    finish_close(c);
    return throw_code(env, "PCAP_ERROR", "uv_poll_start failed on libpcap's descriptor");
  }
  return handle;
}

static capture *unwrap(napi_env env, napi_callback_info info, napi_value *argv, size_t want) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return NULL;
  void *data;
  if (napi_unwrap(env, argv[0], &data) != napi_ok) return NULL;
  return data;
}

/* close(handle): idempotent; inside onBatch it takes effect when the current wake-up returns. */
static napi_value close_capture(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  capture *c = unwrap(env, info, argv, 1);
  if (c == NULL) return throw_arg(env, "close(handle)");
  c->closing = 1;
  if (c->dispatching) {
    if (c->pcap != NULL) pcap_breakloop(c->pcap);
  } else {
    finish_close(c);
  }
  return NULL;
}

/*
 * setFilter(handle, filter): replaces the kernel filter of an open capture (the forwarder turns its recorders'
 * interest into one). Not from inside onBatch (libpcap is in pcap_dispatch then). Packets already in the ring are
 * filtered by libpcap in user space until it drains, so none slips through under the old filter.
 */
static napi_value set_filter(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  capture *c = unwrap(env, info, argv, 2);
  if (c == NULL) return throw_arg(env, "setFilter(handle, filter)");
  if (c->pcap == NULL || c->closing) return throw_code(env, "PCAP_ERROR", "capture is closed");
  if (c->dispatching) return throw_code(env, "PCAP_ERROR", "setFilter inside onBatch");
  char filter[8192];
  if (!get_string(env, argv[1], filter, sizeof filter)) return throw_arg(env, "filter must be a string of at most 8191 bytes");
  struct bpf_program prog;
  if (pcap_compile(c->pcap, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) return throw_code(env, "PCAP_FILTER", pcap_geterr(c->pcap));
  int rc = pcap_setfilter(c->pcap, &prog);
  pcap_freecode(&prog);
  if (rc != 0) return throw_code(env, "PCAP_FILTER", pcap_geterr(c->pcap));
  return NULL;
}

/* stats(handle) -> [ps_recv, ps_drop, ps_ifdrop] (32-bit counters that wrap) or throws PCAP_ERROR. */
static napi_value stats_capture(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  capture *c = unwrap(env, info, argv, 1);
  if (c == NULL) return throw_arg(env, "stats(handle)");
  if (c->pcap == NULL || c->closing) return throw_code(env, "PCAP_ERROR", "capture is closed");
  struct pcap_stat st;
  if (pcap_stats(c->pcap, &st) != 0) return throw_code(env, "PCAP_ERROR", pcap_geterr(c->pcap));
  napi_value out, v;
  napi_create_array_with_length(env, 3, &out);
  napi_create_uint32(env, st.ps_recv, &v);
  napi_set_element(env, out, 0, v);
  napi_create_uint32(env, st.ps_drop, &v);
  napi_set_element(env, out, 1, v);
  napi_create_uint32(env, st.ps_ifdrop, &v);
  napi_set_element(env, out, 2, v);
  return out;
}

/* linkType(handle) -> DLT (== LINKTYPE for every type Tapline decodes); tstampNano(handle) -> boolean. */
static napi_value link_type(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  capture *c = unwrap(env, info, argv, 1);
  if (c == NULL || c->pcap == NULL) return throw_arg(env, "linkType(open handle)");
  napi_create_int32(env, pcap_datalink(c->pcap), &out);
  return out;
}

static napi_value tstamp_nano(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  capture *c = unwrap(env, info, argv, 1);
  if (c == NULL || c->pcap == NULL) return throw_arg(env, "tstampNano(open handle)");
  napi_get_boolean(env, pcap_get_tstamp_precision(c->pcap) == PCAP_TSTAMP_PRECISION_NANO, &out);
  return out;
}

/* devices() -> names libpcap can capture on (pcap_findalldevs), including 'any'. */
static napi_value devices(napi_env env, napi_callback_info info) {
  (void)info;
  pcap_if_t *all = NULL;
  char errbuf[PCAP_ERRBUF_SIZE] = "";
  if (pcap_findalldevs(&all, errbuf) != 0) return throw_code(env, "PCAP_ERROR", errbuf);
  napi_value out, v;
  napi_create_array(env, &out);
  uint32_t i = 0;
  for (pcap_if_t *d = all; d != NULL; d = d->next) {
    napi_create_string_utf8(env, d->name, NAPI_AUTO_LENGTH, &v);
    napi_set_element(env, out, i++, v);
  }
  pcap_freealldevs(all);
  return out;
}

/* checkFilter(filter, linkType, snaplen) -> undefined, or libpcap's message. Needs no privilege (pcap_open_dead). */
static napi_value check_filter(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], out;
  char filter[8192];
  int32_t dlt, snaplen;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3 || !get_string(env, argv[0], filter, sizeof filter) ||
      napi_get_value_int32(env, argv[1], &dlt) != napi_ok || napi_get_value_int32(env, argv[2], &snaplen) != napi_ok)
    return throw_arg(env, "checkFilter(filter, linkType, snaplen)");
  pcap_t *p = pcap_open_dead(dlt, snaplen);
  if (p == NULL) return throw_code(env, "PCAP_ERROR", "pcap_open_dead failed");
  struct bpf_program prog;
  if (pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
    napi_create_string_utf8(env, pcap_geterr(p), NAPI_AUTO_LENGTH, &out);
  } else {
    pcap_freecode(&prog);
    napi_get_undefined(env, &out);
  }
  pcap_close(p);
  return out;
}

static napi_value lib_version(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_create_string_utf8(env, pcap_lib_version(), NAPI_AUTO_LENGTH, &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"open", NULL, open_capture, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, close_capture, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, stats_capture, NULL, NULL, NULL, napi_default, NULL},
      {"linkType", NULL, link_type, NULL, NULL, NULL, napi_default, NULL},
      {"tstampNano", NULL, tstamp_nano, NULL, NULL, NULL, napi_default, NULL},
      {"devices", NULL, devices, NULL, NULL, NULL, napi_default, NULL},
      {"checkFilter", NULL, check_filter, NULL, NULL, NULL, napi_default, NULL},
      {"setFilter", NULL, set_filter, NULL, NULL, NULL, napi_default, NULL},
      {"libVersion", NULL, lib_version, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
