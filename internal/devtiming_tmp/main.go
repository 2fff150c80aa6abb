package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bookshop-ops/gantry/remote/sshhost"
)

func main() {
	addr := os.Getenv("GANTRY_TEST_SSH")
	i := strings.LastIndex(addr, ":")
	port, _ := strconv.Atoi(addr[i+1:])
	ctx := context.Background()
	t0 := time.Now()
	c, err := sshhost.Dial(ctx, sshhost.Config{Host: "127.0.0.1", Port: port, User: "root", KeyFile: os.Getenv("GANTRY_TEST_SSH_KEY"), KnownHosts: os.Getenv("GANTRY_TEST_SSH_KNOWN_HOSTS")})
	if err != nil {
		panic(err)
	}
	fmt.Println("dial", time.Since(t0))
	for _, cmd := range []sshhost.Cmd{sshhost.Command("true"), sshhost.Command("true"), sshhost.Command("docker", "version"), sshhost.Command("curl", "-s", "127.0.0.1:1")} {
		t := time.Now()
		_, err := c.Run(ctx, cmd, sshhost.RunOptions{})
		fmt.Println(cmd.String(), time.Since(t), err)
	}
}
