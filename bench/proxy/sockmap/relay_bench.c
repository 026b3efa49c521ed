/*
 * One-stream throughput on loopback, three ways, each in its own processes:
 *   direct   client -> sink
 *   splice   client -> relay process (splice through a 1 MiB pipe) -> sink
 *   sockmap  client -> relay in the kernel (relay.bpf.c: a SOCKHASH and an
 *            sk_skb stream verdict program; the relay process only accepts,
 *            connects and inserts both sockets, then sleeps) -> sink
 * It asks whether a kernel-side redirect could take the proxy's hop off the
 * CPU budget of a transfer (see BENCHMARKS.md, proxy). Usage (root, from
 * this directory): ./relay_bench MODE [MiB]; run.sh builds and runs all.
 * Ports 40111 and 40112 on 127.0.0.1; every run is bounded by its size.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>

static long long TOTAL = 2LL<<30;
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
static int listen_on(int port){int s=socket(AF_INET,SOCK_STREAM,0);int one=1;setsockopt(s,SOL_SOCKET,SO_REUSEADDR,&one,4);
 struct sockaddr_in a={.sin_family=AF_INET,.sin_port=htons(port),.sin_addr.s_addr=htonl(0x7f000001)};
 if(bind(s,(void*)&a,sizeof a)){perror("bind");exit(1);} listen(s,16);return s;}
static int connect_to(int port){int s=socket(AF_INET,SOCK_STREAM,0);
 struct sockaddr_in a={.sin_family=AF_INET,.sin_port=htons(port),.sin_addr.s_addr=htonl(0x7f000001)};
 if(connect(s,(void*)&a,sizeof a)){perror("connect");exit(1);} return s;}

int main(int argc,char**argv){
 const char*mode=argv[1]; int sinkport=40111, proxyport=40112;
 if(argc>2) TOTAL=atoll(argv[2])<<20;
 int ls=listen_on(sinkport);
 int sync[2]; pipe(sync);
 pid_t sink=fork();
 if(!sink){ int c=accept(ls,0,0); char*buf=malloc(1<<20); long long got=0; ssize_t n;
   while(got<TOTAL && (n=read(c,buf,1<<20))>0) got+=n;
   write(sync[1],"x",1); if(got<TOTAL) fprintf(stderr,"sink short %lld\n",got); _exit(0);}
 close(ls);
 pid_t proxy=0; int target=sinkport;
 if(strcmp(mode,"direct")){
   int pl=listen_on(proxyport); target=proxyport;
   struct bpf_object*obj=0; int mapfd=-1;
   if(!strcmp(mode,"sockmap")){
     obj=bpf_object__open_file("relay.bpf.o",0); if(bpf_object__load(obj)){fprintf(stderr,"load failed\n");exit(1);}
     mapfd=bpf_object__find_map_fd_by_name(obj,"peers");
     int progfd=bpf_program__fd(bpf_object__find_program_by_name(obj,"relay"));
     if(bpf_prog_attach(progfd,mapfd,BPF_SK_SKB_STREAM_VERDICT,0)){perror("attach");exit(1);}
   }
   proxy=fork();
   if(!proxy){ int a=accept(pl,0,0); int u=connect_to(sinkport);
     if(mapfd>=0){ __u64 ca,cu; socklen_t l=8; getsockopt(a,SOL_SOCKET,SO_COOKIE,&ca,&l); getsockopt(u,SOL_SOCKET,SO_COOKIE,&cu,&l);
       __u64 fu=u, fa=a;
       if(bpf_map_update_elem(mapfd,&ca,&fu,BPF_ANY)){perror("upd1");exit(1);}
       if(bpf_map_update_elem(mapfd,&cu,&fa,BPF_ANY)){perror("upd2");exit(1);}
       pause(); }
     else { int p[2]; pipe2(p,0); fcntl(p[1],F_SETPIPE_SZ,1<<20);
       for(;;){ ssize_t n=splice(a,0,p[1],0,1<<20,SPLICE_F_MOVE); if(n<=0)break;
         while(n>0){ssize_t m=splice(p[0],0,u,0,n,SPLICE_F_MOVE); if(m<=0)_exit(1); n-=m;} }
       _exit(0);}
   }
   close(pl);
 }
 usleep(100000);
 int c=connect_to(target); char*buf=malloc(1<<20); memset(buf,'a',1<<20);
 struct rusage s0; getrusage(RUSAGE_SELF,&s0);
 double t0=now(); long long sent=0;
 while(sent<TOTAL){ssize_t n=write(c,buf,1<<20); if(n<=0){perror("write");break;} sent+=n;}
 char x; read(sync[0],&x,1); double t1=now();
 struct rusage s1; getrusage(RUSAGE_SELF,&s1);
 close(c);
 double mbps=TOTAL/(t1-t0)/1e6;
 double cli=(s1.ru_utime.tv_sec-s0.ru_utime.tv_sec)+(s1.ru_utime.tv_usec-s0.ru_utime.tv_usec)/1e6+(s1.ru_stime.tv_sec-s0.ru_stime.tv_sec)+(s1.ru_stime.tv_usec-s0.ru_stime.tv_usec)/1e6;
 // proxy cpu from /proc
 double pcpu=0; if(proxy){char p[64];sprintf(p,"/proc/%d/stat",proxy);FILE*f=fopen(p,"r");unsigned long ut,st;
   fscanf(f,"%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",&ut,&st);fclose(f);pcpu=(ut+st)/100.0; kill(proxy,9);}
 waitpid(sink,0,0); if(proxy) waitpid(proxy,0,0);
 printf("%-8s %7.0f MB/s  %.2fs  client cpu %.2fs  proxy cpu %.2fs\n",mode,mbps,t1-t0,cli,pcpu);
 return 0;}
