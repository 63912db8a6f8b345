// SIMULATED nvidia-smi for the real nodes' driver root (gpuconform, issue 17).
//
// NVIDIA's nvidia-smi is part of the proprietary driver and cannot be shipped here, so the
// driver root carries this stand-in. It reads the node's NVML (NVIDIA's mock libnvidia-ml.so.1,
// mounted by CDI) through go-nvml, as the real tool reads the real library, and prints what
// the real one prints for `-L` and `--query-gpu=... --format=csv`, and a shortened default
// table (its header line, one line per GPU). Like a real driver, it shows only the GPUs whose
// /dev/nvidia<minor> the container has: the mock NVML itself lists every GPU of the node. Run
// from inside a driver root (<root>/usr/bin/nvidia-smi, as the DRA driver's init container runs
// it), the device nodes are that root's: the driver root is the dev root on these nodes.
//
// The mock NVML learns the node's GPUs only from MOCK_NVML_CONFIG, which a container gets from
// the node's CDI spec (nvidia-ctk's, with our edit) but not from the DRA driver's. A real
// driver's nvidia-smi knows its node's GPUs from the kernel module, so the driver root's copy
// carries the node's config after the ELF image (driver_root.py appends it behind configMarker)
// and hands it to the mock when the variable is unset. Messages and exit codes are the real ones (12 library not found,
// 6 no devices, 2 bad arguments).
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

const (
	noLibrary = "NVIDIA-SMI couldn't find libnvidia-ml.so library in your system. Please make sure that " +
		"the NVIDIA Display Driver is properly installed and present in your system.\n" +
		"Please also try adding directory that contains libnvidia-ml.so to your system PATH."
	noDriver = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. " +
		"Make sure that the latest NVIDIA driver is installed and running."
	noDevices = "No devices were found"
	badArgs   = "Invalid combination of input arguments. Please run 'nvidia-smi -h' for help."
)

// Built at run time, so the binary's own data never holds the whole marker.
var configMarker = "\n" + strings.Repeat("=", 8) + "gpuconform-node-gpus\n"

// useNodeConfig: rerun this program with MOCK_NVML_CONFIG naming the config appended to it,
// if there is one and the variable is unset. A rerun, not os.Setenv: the mock library reads
// its environment when it is loaded (at exec under LD_PRELOAD, as the DRA init container runs
// this), not when nvmlInit is called.
func useNodeConfig() {
	if os.Getenv("MOCK_NVML_CONFIG") != "" {
		return
	}
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		return
	}
	at := strings.LastIndex(string(self), configMarker)
	if at < 0 {
		return
	}
	file, err := os.CreateTemp("", tempPrefix+"*.yaml")
	if err != nil {
		return
	}
	_, err = file.Write(self[at+len(configMarker):])
	file.Close()
	if err != nil {
		return
	}
	env := append(os.Environ(), "MOCK_NVML_CONFIG="+file.Name())
	err = syscall.Exec("/proc/self/exe", os.Args, env)
	os.Remove(file.Name()) // only reached when the exec failed
}

// dropNodeConfig: remove the temporary config useNodeConfig wrote, once NVML has read it.
func dropNodeConfig() {
	name := os.Getenv("MOCK_NVML_CONFIG")
	if filepath.Dir(name) == filepath.Clean(os.TempDir()) &&
		strings.HasPrefix(filepath.Base(name), tempPrefix) {
		os.Remove(name)
	}
}

const tempPrefix = "gpuconform-node-gpus-"

type gpu struct {
	index             int
	name, uuid, busID string
	memoryMiB         uint64
	driver            string
}

func fail(message string, code int) {
	fmt.Println(message)
	os.Exit(code)
}

// devRoot: "" for /usr/bin/nvidia-smi (mounted by CDI), else the driver root it was run from.
func devRoot() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	root := strings.TrimSuffix(filepath.Dir(exe), "/usr/bin")
	if root == filepath.Dir(exe) || root == "/" {
		return ""
	}
	return root
}

// visibleGPUs: the node's GPUs whose device node this container has, renumbered from 0.
func visibleGPUs() []gpu {
	useNodeConfig()
	if ret := nvml.Init(); ret != nvml.SUCCESS {
		if ret == nvml.ERROR_LIBRARY_NOT_FOUND {
			fail(noLibrary, 12)
		}
		fail(noDriver, 9)
	}
	dropNodeConfig()
	driver, _ := nvml.SystemGetDriverVersion()
	count, ret := nvml.DeviceGetCount()
	if ret != nvml.SUCCESS {
		fail(noDriver, 9)
	}
	var gpus []gpu
	for i := 0; i < count; i++ {
		device, ret := nvml.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			continue
		}
		minor, ret := device.GetMinorNumber()
		if ret != nvml.SUCCESS {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("%s/dev/nvidia%d", devRoot(), minor)); err != nil {
			continue
		}
		name, _ := device.GetName()
		uuid, _ := device.GetUUID()
		memory, _ := device.GetMemoryInfo()
		pci, _ := device.GetPciInfo()
		gpus = append(gpus, gpu{
			index: len(gpus), name: name, uuid: uuid, memoryMiB: memory.Total / (1 << 20),
			busID: busID(pci), driver: driver,
		})
	}
	if len(gpus) == 0 {
		fail(noDevices, 6)
	}
	return gpus
}

func busID(pci nvml.PciInfo) string {
	var b strings.Builder
	for _, c := range pci.BusIdLegacy {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	return b.String()
}

func list(gpus []gpu) {
	for _, g := range gpus {
		fmt.Printf("GPU %d: %s (UUID: %s)\n", g.index, g.name, g.uuid)
	}
}

var fields = map[string]struct {
	header string
	value  func(gpu) string
}{
	"index":          {"index", func(g gpu) string { return fmt.Sprint(g.index) }},
	"name":           {"name", func(g gpu) string { return g.name }},
	"uuid":           {"uuid", func(g gpu) string { return g.uuid }},
	"pci.bus_id":     {"pci.bus_id", func(g gpu) string { return g.busID }},
	"driver_version": {"driver_version", func(g gpu) string { return g.driver }},
	"memory.total":   {"memory.total [MiB]", func(g gpu) string { return fmt.Sprintf("%d MiB", g.memoryMiB) }},
}

func query(gpus []gpu, names []string, format string) {
	options := strings.Split(format, ",")
	if options[0] != "csv" {
		fail(badArgs, 2)
	}
	header, units := true, true
	for _, o := range options[1:] {
		header = header && o != "noheader"
		units = units && o != "nounits"
	}
	for _, n := range names {
		if _, ok := fields[n]; !ok {
			fail(fmt.Sprintf("Field \"%s\" is not a valid field to query.", n), 2)
		}
	}
	if header {
		var hs []string
		for _, n := range names {
			hs = append(hs, fields[n].header)
		}
		fmt.Println(strings.Join(hs, ", "))
	}
	for _, g := range gpus {
		var vs []string
		for _, n := range names {
			v := fields[n].value(g)
			if !units {
				v = strings.TrimSuffix(v, " MiB")
			}
			vs = append(vs, v)
		}
		fmt.Println(strings.Join(vs, ", "))
	}
}

// table: the default view, shortened to its header and one line per GPU.
func table(gpus []gpu) {
	cuda := "N/A"
	if v, ret := nvml.SystemGetCudaDriverVersion(); ret == nvml.SUCCESS {
		cuda = fmt.Sprintf("%d.%d", v/1000, v%1000/10)
	}
	rule := "+" + strings.Repeat("-", 89) + "+"
	fmt.Println(rule)
	fmt.Printf("| NVIDIA-SMI %-22s Driver Version: %-14s CUDA Version: %-9s|\n",
		gpus[0].driver, gpus[0].driver, cuda)
	fmt.Println(rule)
	for _, g := range gpus {
		fmt.Printf("| %3d  %-34s | %-16s | %8d MiB | %-16s|\n",
			g.index, g.name, g.busID, g.memoryMiB, g.uuid[:min(len(g.uuid), 16)])
	}
	fmt.Println(rule)
}

func main() {
	args := os.Args[1:]
	var queryFields []string
	format := ""
	listing := false
	for _, a := range args {
		switch {
		case a == "-L" || a == "--list-gpus":
			listing = true
		case strings.HasPrefix(a, "--query-gpu="):
			queryFields = strings.Split(strings.TrimPrefix(a, "--query-gpu="), ",")
		case strings.HasPrefix(a, "--format="):
			format = strings.TrimPrefix(a, "--format=")
		default:
			fail(badArgs, 2)
		}
	}
	switch {
	case listing && queryFields == nil:
		list(visibleGPUs())
	case queryFields != nil && format != "":
		query(visibleGPUs(), queryFields, format)
	case len(args) == 0:
		table(visibleGPUs())
	default:
		fail(badArgs, 2)
	}
}
