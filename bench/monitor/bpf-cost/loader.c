/* Loads one build of the monitor's eBPF object, attaches its programs,
 * drains the ring buffer every 15 ms (as the recorder does) until SIGTERM,
 * then prints each program's run count and kernel time from
 * bpf_prog_info (kernel.bpf_stats_enabled must be 1).
 * Used by run.sh; build: gcc -O2 loader.c -o loader -lbpf */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static long events;

static void on_signal(int signal) { (void)signal; stop = 1; }

static int on_event(void *context, void *data, size_t length)
{
	(void)context; (void)data; (void)length;
	events++;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: loader OBJECT\n");
		return 2;
	}
	struct bpf_object *object = bpf_object__open_file(argv[1], NULL);
	if (!object) {
		perror("open");
		return 1;
	}
	/* The recorder's ring size (RING_BYTES), not the object's. */
	struct bpf_map *ring = bpf_object__find_map_by_name(object, "events");
	bpf_map__set_max_entries(ring, 4 << 20);
	if (bpf_object__load(object)) {
		perror("load");
		return 1;
	}
	struct bpf_program *program;
	bpf_object__for_each_program(program, object) {
		if (!bpf_program__attach(program)) {
			fprintf(stderr, "attaching %s failed\n", bpf_program__name(program));
			return 1;
		}
	}
	struct ring_buffer *reader = ring_buffer__new(bpf_map__fd(ring), on_event, NULL, NULL);
	signal(SIGTERM, on_signal);
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		ring_buffer__poll(reader, 100);
		usleep(15000);
	}
	ring_buffer__consume(reader);
	bpf_object__for_each_program(program, object) {
		struct bpf_prog_info info = {0};
		__u32 length = sizeof(info);
		bpf_obj_get_info_by_fd(bpf_program__fd(program), &info, &length);
		printf("%s: %llu runs, %.1f ns per run, %ld ring records\n", bpf_program__name(program),
		       (unsigned long long)info.run_cnt,
		       info.run_cnt ? (double)info.run_time_ns / info.run_cnt : 0.0, events);
	}
	return 0;
}
