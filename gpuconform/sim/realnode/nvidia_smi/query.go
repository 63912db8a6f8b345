// `nvidia-smi -q` of the SIMULATED nvidia-smi: the real report's layout (a real H200's is
// tests/data/h200-host/nvidia-smi-q.txt) for the fields this node's NVML answers, each read
// from NVML through go-nvml, never from gpuconform's config. A field NVML does not answer is
// left out, never filled in; the real report's other ~200 fields per GPU are not printed.
// The Python stand-in for KWOK nodes (gpuconform/sim/tools/nvidia_smi_q.py) prints the same
// layout; both are held to the real capture by the same test (tests/smi_format.py).
package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// labelWidth: the real report pads every label, with its indentation, to column 55.
const labelWidth = 55

// Architecture names as the real report prints them (nvmlDeviceArchitecture_t values).
var architectures = map[nvml.DeviceArchitecture]string{
	2: "Kepler", 3: "Maxwell", 4: "Pascal", 5: "Volta", 6: "Turing", 7: "Ampere",
	8: "Ada Lovelace", 9: "Hopper", 10: "Blackwell",
}

var computeModes = map[nvml.ComputeMode]string{
	0: "Default", 1: "Exclusive_Thread", 2: "Prohibited", 3: "Exclusive_Process",
}

type report struct{ lines []string }

func (r *report) section(depth int, label string) {
	r.lines = append(r.lines, strings.Repeat("    ", depth)+label)
}

func (r *report) field(depth int, label, value string) {
	text := strings.Repeat("    ", depth) + label
	r.lines = append(r.lines, fmt.Sprintf("%-*s: %s", labelWidth, text, value))
}

func enabled(on bool) string {
	if on {
		return "Enabled"
	}
	return "Disabled"
}

// queryReport prints `nvidia-smi -q`: the NVSMI LOG header, then a block per visible GPU.
func queryReport(gpus []gpu) {
	r := &report{lines: []string{"", "==============NVSMI LOG==============", ""}}
	r.field(0, "Timestamp", time.Now().Format("Mon Jan _2 15:04:05 2006"))
	r.field(0, "Driver Version", gpus[0].driver)
	r.field(0, "CUDA Version", cudaVersion())
	r.lines = append(r.lines, "")
	r.field(0, "Attached GPUs", fmt.Sprint(len(gpus)))
	for _, g := range gpus {
		gpuBlock(r, g)
		r.lines = append(r.lines, "")
	}
	fmt.Println(strings.Join(r.lines, "\n"))
}

// gpuBlock: one GPU's fields, in the real report's order.
func gpuBlock(r *report, g gpu) {
	d := g.device
	pci, ret := d.GetPciInfo()
	if ret != nvml.SUCCESS {
		fail(noDriver, 9)
	}
	r.section(0, "GPU "+cString(pci.BusId[:]))
	r.field(1, "Product Name", g.name)
	if arch, ret := d.GetArchitecture(); ret == nvml.SUCCESS && architectures[arch] != "" {
		r.field(1, "Product Architecture", architectures[arch])
	}
	if mode, ret := d.GetPersistenceMode(); ret == nvml.SUCCESS {
		r.field(1, "Persistence Mode", enabled(mode == nvml.FEATURE_ENABLED))
	}
	if current, pending, ret := d.GetMigMode(); ret == nvml.SUCCESS {
		r.section(1, "MIG Mode")
		r.field(2, "Current", enabled(current == nvml.DEVICE_MIG_ENABLE))
		r.field(2, "Pending", enabled(pending == nvml.DEVICE_MIG_ENABLE))
	}
	if serial, ret := d.GetSerial(); ret == nvml.SUCCESS {
		r.field(1, "Serial Number", serial)
	}
	r.field(1, "GPU UUID", g.uuid)
	if minor, ret := d.GetMinorNumber(); ret == nvml.SUCCESS {
		r.field(1, "Minor Number", fmt.Sprint(minor))
	}
	r.section(1, "PCI")
	r.field(2, "Bus Id", cString(pci.BusId[:]))
	if memory, ret := d.GetMemoryInfo(); ret == nvml.SUCCESS {
		r.section(1, "FB Memory Usage")
		r.field(2, "Total", fmt.Sprintf("%d MiB", memory.Total>>20))
		r.field(2, "Used", fmt.Sprintf("%d MiB", memory.Used>>20))
		r.field(2, "Free", fmt.Sprintf("%d MiB", memory.Free>>20))
	}
	if mode, ret := d.GetComputeMode(); ret == nvml.SUCCESS && computeModes[mode] != "" {
		r.field(1, "Compute Mode", computeModes[mode])
	}
}
