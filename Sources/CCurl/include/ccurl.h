#ifndef CONVEYOR_CCURL_H
#define CONVEYOR_CCURL_H

// Typed, non-variadic front for libcurl. Swift cannot call the variadic
// curl_easy_setopt/curl_easy_getinfo, so every argument type gets its own function.
// Only the `Curl` module imports this target.

#include <curl/curl.h>

#ifdef __cplusplus
extern "C" {
#endif

/// curl_global_init(CURL_GLOBAL_ALL), run exactly once per process however many threads
/// race to it; every call returns the result of that one initialisation.
CURLcode ccurl_global_init_once(void);

CURLcode ccurl_setopt_long(CURL *handle, CURLoption option, long value);
/// libcurl copies string options (except CURLOPT_POSTFIELDS, which callers must not use).
CURLcode ccurl_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode ccurl_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode ccurl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value);
CURLcode ccurl_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value);

/// Sets CURLOPT_POSTFIELDSIZE_LARGE then CURLOPT_COPYPOSTFIELDS, so binary bodies (with NUL
/// bytes) are copied whole and the caller's buffer may die right after the call.
CURLcode ccurl_setopt_copy_postfields(CURL *handle, const void *data, curl_off_t size);

CURLcode ccurl_setopt_write_function(CURL *handle, curl_write_callback callback);
CURLcode ccurl_setopt_header_function(CURL *handle, curl_write_callback callback);
CURLcode ccurl_setopt_read_function(CURL *handle, curl_read_callback callback);
CURLcode ccurl_setopt_debug_function(CURL *handle, curl_debug_callback callback);
CURLcode ccurl_setopt_xferinfo_function(CURL *handle, curl_xferinfo_callback callback);

/// The multi interface: curl_multi_setopt is variadic too.
CURLMcode ccurl_multi_setopt_long(CURLM *multi, CURLMoption option, long value);
/// Reads one finished transfer from a CURLMsg (its union is awkward from Swift): returns 1
/// and fills `easy` and `result` when `message` says CURLMSG_DONE, else 0.
int ccurl_multi_message_done(const CURLMsg *message, CURL **easy, CURLcode *result);

/// CURLOPT_OPENSOCKETFUNCTION: the callback sees each address libcurl is about to connect to,
/// after its own resolution, and opens the socket or refuses (CURL_SOCKET_BAD).
CURLcode ccurl_setopt_opensocket_function(CURL *handle, curl_opensocket_callback callback);

CURLcode ccurl_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLcode ccurl_getinfo_string(CURL *handle, CURLINFO info, const char **value);
CURLcode ccurl_getinfo_off_t(CURL *handle, CURLINFO info, curl_off_t *value);
CURLcode ccurl_getinfo_double(CURL *handle, CURLINFO info, double *value);

#ifdef __cplusplus
}
#endif

#endif
