// udpblast PORT PPS COUNT [SIZE]: sends COUNT UDP datagrams to 127.0.0.1:PORT at PPS, paced per 100 us slot.
// Payload: u32 seq (BE) | u64 send time ns (BE) | filler. Prints the achieved rate.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
static uint64_t now_ns(void){struct timespec t;clock_gettime(CLOCK_REALTIME,&t);return (uint64_t)t.tv_sec*1000000000ull+t.tv_nsec;}
int main(int argc,char**argv){
  int port=atoi(argv[1]); double pps=atof(argv[2]); long count=atol(argv[3]); int size=argc>4?atoi(argv[4]):172;
  int s=socket(AF_INET,SOCK_DGRAM,0); int sb=4<<20; setsockopt(s,SOL_SOCKET,SO_SNDBUF,&sb,sizeof sb);
  struct sockaddr_in a={0}; a.sin_family=AF_INET; a.sin_port=htons(port); a.sin_addr.s_addr=htonl(0x7f000001);
  // A bound receiver that never reads: datagrams are dropped at its full queue instead of raising ICMP port-unreachables.
  int r0=socket(AF_INET,SOCK_DGRAM,0); if(getenv("NOSINK")==NULL && bind(r0,(struct sockaddr*)&a,sizeof a)<0) perror("bind sink");
  unsigned char buf[2048]; memset(buf,0xab,sizeof buf);
  uint64_t t0=now_ns(); long sent=0, fails=0;
  while(sent<count){
    uint64_t t=now_ns(); long due=(long)((double)(t-t0)*pps/1e9)+1; if(due>count)due=count;
    if(sent>=due) continue;
    while(sent<due){
      int n=(int)(due-sent); if(n>64)n=64;
      struct mmsghdr m[64]; struct iovec v[64]; static unsigned char bufs[64][2048];
      uint64_t ns=now_ns();
      for(int k=0;k<n;k++){ memset(bufs[k],0xab,size); uint32_t seq=htonl((uint32_t)(sent+k)); memcpy(bufs[k],&seq,4);
        for(int i=0;i<8;i++) bufs[k][4+i]=(unsigned char)(ns>>(56-8*i));
        v[k].iov_base=bufs[k]; v[k].iov_len=size; memset(&m[k],0,sizeof m[k]); m[k].msg_hdr.msg_name=&a; m[k].msg_hdr.msg_namelen=sizeof a; m[k].msg_hdr.msg_iov=&v[k]; m[k].msg_hdr.msg_iovlen=1; }
      int r=sendmmsg(s,m,n,0); if(r<0){fails+=n; r=n;} else if(r<n) fails+=n-r;
      sent+=n;
    }
  }
  double el=(now_ns()-t0)/1e9;
  printf("{\"sent\":%ld,\"fails\":%ld,\"seconds\":%.3f,\"pps\":%.0f}\n",sent,fails,el,sent/el);
  return 0;
}
