// SIMULATED nvidia-smi for the real nodes' driver root (gpuconform, issue 17).
//
// NVIDIA's nvidia-smi is part of the proprietary driver and cannot be shipped here, so the
// driver root carries this stand-in. It reads the node's NVML (NVIDIA's mock libnvidia-ml.so.1,
// mounted by CDI) through go-nvml, as the real tool reads the real library, and prints what
// the real one prints for `-L`, `--query-gpu=... --format=csv` and `-q` (the fields NVML
// answers here, under the real labels in the real order: query.go), and a shortened default
// table (its header line, one line per GPU). Like a real driver, it shows only the GPUs whose
// /dev/nvidia<minor> the container has: the mock NVML itself lists every GPU of the node. Run
// from inside a driver root (<root>/usr/bin/nvidia-smi, as the DRA driver's init container runs
// it), the device nodes are that root's: the driver root is the dev root on these nodes.
// Messages and exit codes are the real ones (12 library not found, 6 no devices, 2 bad
// arguments).
//
// The mock learns its GPUs from MOCK_NVML_CONFIG, which a real driver never needs (a real
// nvidia-smi knows its node's GPUs from the kernel module). A container whose devices came
// from a CDI spec without that simulated edit (the device plugin's own spec with cdi-cri, the
// DRA driver's) has no such variable; for it, each node's copy of this tool carries the node's
// mock config after its ELF image (configStart, configEnd) and hands it to the mock before
// loading NVML.
package main

import (
	"bytes"
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

type gpu struct {
	index             int
	name, uuid, busID string
	memoryMiB         uint64
	driver            string
	device            nvml.Device // for -q, which reads more of it
}

// The node's mock NVML config appended to this binary: configStart, the YAML, configEnd. The
// binary ends with configEnd only when a config was appended (the constants themselves lie
// inside the ELF image, never at its end).
const (
	configStart = "\n#gpuconform-mock-nvml-config\n"
	configEnd   = "\n#end-gpuconform-mock-nvml-config\n"
)

// carriedEnv marks a process this tool re-executed with the config it carries.
const carriedEnv = "GPUCONFORM_MOCK_NVML_CONFIG_CARRIED"

// useCarriedMockConfig gives the mock the config this binary carries, when the container was
// given none: written to a temporary file, then this tool executed again with
// MOCK_NVML_CONFIG naming it (the mock, a Go library of its own, reads the environment the
// process started with, so setting it now would not reach it). Without either, the mock
// reports its default GPUs. It returns the temporary file to remove once NVML is loaded.
func useCarriedMockConfig() string {
	if os.Getenv(carriedEnv) != "" {
		return os.Getenv("MOCK_NVML_CONFIG")
	}
	if os.Getenv("MOCK_NVML_CONFIG") != "" {
		return ""
	}
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil || !bytes.HasSuffix(self, []byte(configEnd)) {
		return ""
	}
	self = bytes.TrimSuffix(self, []byte(configEnd))
	at := bytes.LastIndex(self, []byte(configStart))
	if at < 0 {
		return ""
	}
	file, err := os.CreateTemp("", "mock-nvml-config-*.yaml")
	if err != nil {
		return ""
	}
	_, err = file.Write(self[at+len(configStart):])
	file.Close()
	if err == nil {
		env := append(os.Environ(), "MOCK_NVML_CONFIG="+file.Name(), carriedEnv+"=1")
		err = syscall.Exec("/proc/self/exe", os.Args, env)
	}
	os.Remove(file.Name()) // only reached when the config could not be handed on
	return ""
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
	carried := useCarriedMockConfig()
	ret := nvml.Init()
	if carried != "" {
		os.Remove(carried)
	}
	if ret != nvml.SUCCESS {
		if ret == nvml.ERROR_LIBRARY_NOT_FOUND {
			fail(noLibrary, 12)
		}
		fail(noDriver, 9)
	}
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
			busID: busID(pci), driver: driver, device: device,
		})
	}
	if len(gpus) == 0 {
		fail(noDevices, 6)
	}
	return gpus
}

func busID(pci nvml.PciInfo) string {
	return cString(pci.BusIdLegacy[:])
}

// cString: NVML's NUL-terminated char array as text.
func cString[T int8 | uint8](chars []T) string {
	var b strings.Builder
	for _, c := range chars {
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

// cudaVersion: the CUDA version the driver supports, as nvidia-smi prints it ("13.0").
func cudaVersion() string {
	if v, ret := nvml.SystemGetCudaDriverVersion(); ret == nvml.SUCCESS {
		return fmt.Sprintf("%d.%d", v/1000, v%1000/10)
	}
	return "N/A"
}

// table: the default view, shortened to its header and one line per GPU.
func table(gpus []gpu) {
	cuda := cudaVersion()
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
	listing, report := false, false
	for _, a := range args {
		switch {
		case a == "-L" || a == "--list-gpus":
			listing = true
		case a == "-q" || a == "--query":
			report = true
		case strings.HasPrefix(a, "--query-gpu="):
			queryFields = strings.Split(strings.TrimPrefix(a, "--query-gpu="), ",")
		case strings.HasPrefix(a, "--format="):
			format = strings.TrimPrefix(a, "--format=")
		default:
			fail(badArgs, 2)
		}
	}
	switch {
	case report && !listing && queryFields == nil && format == "":
		queryReport(visibleGPUs())
	case listing && !report && queryFields == nil:
		list(visibleGPUs())
	case queryFields != nil && format != "":
		query(visibleGPUs(), queryFields, format)
	case len(args) == 0:
		table(visibleGPUs())
	default:
		fail(badArgs, 2)
	}
}
