/* The HTTP client's parsing, redaction and argument checks (no server). */
#include "testutil.h"

#include "http/http_int.h"
#include "http/http_priv.h"

#include <string.h>

static void setup(void) { cr_assert_geq(devsys_init(), 1); }
static void teardown(void) { devsys_shutdown(); }

TestSuite(http_unit, .init = setup, .fini = teardown);

static void next_is(const char *link, const char *want)
{
	char *got = devsys__http_link_next(link);
	if (!want)
		cr_assert_null(got, "'%s' gave '%s'", link, got);
	else
		cr_assert_str_eq(got ? got : "(null)", want, "for '%s'", link);
	devsys__free(got);
}

Test(http_unit, link_header_next)
{
	next_is("<https://api.github.com/repositories/1/pulls?page=2>; rel=\"next\", "
	        "<https://api.github.com/repositories/1/pulls?page=5>; rel=\"last\"",
	        "https://api.github.com/repositories/1/pulls?page=2");
	next_is("<https://x/a?page=1>; rel=\"prev\", <https://x/a?page=3>; rel=\"next\"", "https://x/a?page=3");
	next_is("<https://x/a?page=3>; rel=\"prev first\"", NULL);
	next_is("<https://x/a?p=2>; rel=next", "https://x/a?p=2");
	next_is("<https://x/a?p=2>; title=\"x\"; rel=\"last next\"", "https://x/a?p=2");
	next_is("<https://x/a?p=9>; rel=\"nextish\"", NULL);
	next_is("", NULL);
	next_is("garbage", NULL);
	next_is("<https://x/unterminated; rel=\"next\"", NULL);
}

Test(http_unit, trace_redaction)
{
	devsys_buf out = DEVSYS_BUF_INIT;
	const char *in = "GET /x HTTP/1.1\r\nHost: h\r\nauthorization: token abc123\r\n"
	                 "Proxy-Authorization: Basic Zm9v\r\nX-Echo: abc123abc123\r\n\r\n";
	cr_assert_eq(devsys__http_redact_trace(&out, in, strlen(in), "abc123"), 0);
	cr_assert_str_eq(out.ptr, "GET /x HTTP/1.1\r\nHost: h\r\nauthorization: ***\r\n"
	                          "Proxy-Authorization: ***\r\nX-Echo: ******\r\n\r\n");
	/* Split across chunks: an Authorization header value is still dropped by name. */
	cr_assert_eq(devsys__http_redact_trace(&out, "Authorization: Bearer ab", 24, "abc123"), 0);
	cr_assert_str_eq(out.ptr, "Authorization: ***\r\n");
	cr_assert_eq(devsys__http_redact(&out, "no token here", 13, NULL), 0);
	cr_assert_str_eq(out.ptr, "no token here");
	devsys_buf_dispose(&out);
}

static int new_with(const char *base, const char *sock)
{
	devsys__http_options o;
	devsys__http *c = NULL;
	int rc;
	devsys__http_options_default(&o);
	o.what = "t";
	o.base_url = base;
	o.unix_socket = sock;
	rc = devsys__http_new(&c, &o);
	cr_assert_eq(rc < 0, c == NULL);
	devsys__http_free(c);
	return rc;
}

Test(http_unit, base_url_checks)
{
	cr_assert_eq(new_with("https://api.github.com", NULL), 0);
	cr_assert_eq(new_with("http://127.0.0.1:8080/api/v1/", NULL), 0);
	cr_assert_eq(new_with("ftp://x", NULL), DEVSYS_EINVAL);
	cr_assert(strstr(devsys_error_message(devsys_error_last()), "'ftp://x'"));
	cr_assert_eq(new_with("https:///nohost", NULL), DEVSYS_EINVAL);
	cr_assert_eq(new_with(NULL, NULL), DEVSYS_EINVAL);
	cr_assert_eq(new_with("https://user:pw@example.test/", NULL), DEVSYS_EINVAL);
	cr_assert_null(strstr(devsys_error_message(devsys_error_last()), "pw"), "%s",
	               devsys_error_message(devsys_error_last()));
	cr_assert_eq(new_with("http://localhost", ""), DEVSYS_EINVAL);
}

Test(http_unit, token_with_a_line_break_is_refused)
{
	devsys__http_options o;
	devsys__http *c = NULL;
	devsys__http_options_default(&o);
	o.base_url = "https://api.github.com";
	o.token = "abc\r\nX-Injected: 1";
	cr_assert_eq(devsys__http_new(&c, &o), DEVSYS_EINVAL);
	cr_assert_null(strstr(devsys_error_message(devsys_error_last()), "abc"));
}

Test(http_uninit, needs_init)
{
	devsys__http_options o;
	devsys__http *c = NULL;
	devsys__http_options_default(&o);
	o.base_url = "https://api.github.com";
	cr_assert_eq(devsys__http_new(&c, &o), DEVSYS_ENOTINIT);
}
