/*
 * Context for the parse benchmark: libxml2's SAX2 push parser with empty
 * callbacks on the same file, i.e. the ceiling of any libxml2-based parser.
 * CPU time covers the parse alone, as in bench_junit_parse.
 * usage: bench_libxml2_floor FILE
 */
#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

static void on_start(void *c, const xmlChar *l, const xmlChar *p, const xmlChar *u, int nn, const xmlChar **ns, int na,
                     int nd, const xmlChar **a)
{
	(void)c, (void)l, (void)p, (void)u, (void)nn, (void)ns, (void)na, (void)nd, (void)a;
}

static void on_end(void *c, const xmlChar *l, const xmlChar *p, const xmlChar *u)
{
	(void)c, (void)l, (void)p, (void)u;
}

static void on_text(void *c, const xmlChar *s, int n)
{
	(void)c, (void)s, (void)n;
}

int main(int argc, char **argv)
{
	static char buf[256 * 1024];
	xmlSAXHandler sax;
	xmlParserCtxtPtr ctx;
	struct rusage ru0, ru;
	struct stat st;
	size_t r;
	double cpu;
	FILE *f;
	if (argc != 2 || stat(argv[1], &st) != 0 || !(f = fopen(argv[1], "rb")))
		return 2;
	getrusage(RUSAGE_SELF, &ru0);
	memset(&sax, 0, sizeof(sax));
	sax.initialized = XML_SAX2_MAGIC;
	sax.startElementNs = on_start;
	sax.endElementNs = on_end;
	sax.characters = on_text;
	ctx = xmlCreatePushParserCtxt(&sax, NULL, NULL, 0, argv[1]);
	xmlCtxtUseOptions(ctx, XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_COMPACT);
	while ((r = fread(buf, 1, sizeof(buf), f)) > 0)
		xmlParseChunk(ctx, buf, (int)r, 0);
	xmlParseChunk(ctx, buf, 0, 1);
	fclose(f);
	xmlFreeParserCtxt(ctx);
	getrusage(RUSAGE_SELF, &ru);
	cpu = (double)(ru.ru_utime.tv_sec - ru0.ru_utime.tv_sec) + (double)(ru.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
	      (double)(ru.ru_stime.tv_sec - ru0.ru_stime.tv_sec) + (double)(ru.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
	printf("libxml2-sax2-empty %.1f MB cpu %.3f s %.1f MB/s\n", (double)st.st_size / 1e6, cpu,
	       (double)st.st_size / 1e6 / cpu);
	return 0;
}
