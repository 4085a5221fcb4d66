/*
What the manifests say, read with encoding/xml and held to Binder's
manifest and to the layout of the release: the service names, the one default instance
enabled, the dependencies (grouping and restart_on each), the method context
(user, group, privileges, working directory), the methods and their
timeouts, the duration models, and the "config" property group with the
defaults the start method also uses.

The config group must sit on the service, not the instance, so that
"svccfg -s binder-balancer setprop config/..." (a service-level write)
reaches the instance: an instance-level copy would shadow it.

Each start method's exec path must be where "make release" installs the
script (opt/smartdc/binder/smf/methods/NAME for smf/methods/NAME, plural as
Binder's own methods); the release test checks the tarball side.

In a Binder zone (Binder's boot/setup.sh imports only Binder's manifests,
and svc.startd holds a service whose require_all dependency does not exist
offline for ever): every require_* dependency must be a service every
Triton zone has, and no service but the balancer may have a log that
Binder's logadm glob, /var/svc/log/*binder-balancer*.log, takes.
*/
package smftest

import (
	"encoding/xml"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// The XML elements the tests look at; everything else is ignored.
type smfBundle struct {
	XMLName  xml.Name     `xml:"service_bundle"`
	Type     string       `xml:"type,attr"`
	Services []smfService `xml:"service"`
}

type smfService struct {
	Name           string          `xml:"name,attr"`
	Type           string          `xml:"type,attr"`
	SingleInstance *struct{}       `xml:"single_instance"`
	Dependencies   []smfDependency `xml:"dependency"`
	MethodContext  *smfContext     `xml:"method_context"`
	Methods        []smfMethod     `xml:"exec_method"`
	PropertyGroups []smfPropGroup  `xml:"property_group"`
	Instances      []smfInstance   `xml:"instance"`
	Template       *smfTemplate    `xml:"template"`
}

type smfDependency struct {
	Name      string `xml:"name,attr"`
	Grouping  string `xml:"grouping,attr"`
	RestartOn string `xml:"restart_on,attr"`
	Type      string `xml:"type,attr"`
	FMRIs     []struct {
		Value string `xml:"value,attr"`
	} `xml:"service_fmri"`
}

type smfContext struct {
	WorkingDirectory string `xml:"working_directory,attr"`
	Credential       *struct {
		User       string `xml:"user,attr"`
		Group      string `xml:"group,attr"`
		Privileges string `xml:"privileges,attr"`
	} `xml:"method_credential"`
}

type smfMethod struct {
	Type    string      `xml:"type,attr"`
	Name    string      `xml:"name,attr"`
	Exec    string      `xml:"exec,attr"`
	Timeout string      `xml:"timeout_seconds,attr"`
	Context *smfContext `xml:"method_context"`
}

type smfPropGroup struct {
	Name    string `xml:"name,attr"`
	Type    string `xml:"type,attr"`
	Propval []struct {
		Name  string `xml:"name,attr"`
		Type  string `xml:"type,attr"`
		Value string `xml:"value,attr"`
	} `xml:"propval"`
}

type smfInstance struct {
	Name           string         `xml:"name,attr"`
	Enabled        string         `xml:"enabled,attr"`
	PropertyGroups []smfPropGroup `xml:"property_group"`
	MethodContext  *smfContext    `xml:"method_context"`
	Methods        []smfMethod    `xml:"exec_method"`
}

type smfTemplate struct {
	CommonName []string `xml:"common_name>loctext"`
	DocLinks   []struct {
		URI string `xml:"uri,attr"`
	} `xml:"documentation>doc_link"`
}

// loadService parses a manifest that must hold exactly one service.
func loadService(t *testing.T, name string) smfService {
	t.Helper()
	data, err := os.ReadFile(manifestPath(t, name))
	if err != nil {
		t.Fatal(err)
	}
	var bundle smfBundle
	if err := xml.Unmarshal(data, &bundle); err != nil {
		t.Fatalf("parsing %s: %v", name, err)
	}
	if bundle.Type != "manifest" || len(bundle.Services) != 1 {
		t.Fatalf("%s: bundle type %q with %d services, want one service in a manifest", name, bundle.Type, len(bundle.Services))
	}
	return bundle.Services[0]
}

// method returns the named exec_method of the service.
func (s smfService) method(t *testing.T, name string) smfMethod {
	t.Helper()
	for _, m := range s.Methods {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("service %s has no %s method", s.Name, name)
	return smfMethod{}
}

// propGroup returns the named service-level property group.
func (s smfService) propGroup(t *testing.T, name string) smfPropGroup {
	t.Helper()
	for _, pg := range s.PropertyGroups {
		if pg.Name == name {
			return pg
		}
	}
	t.Fatalf("service %s has no property group %s", s.Name, name)
	return smfPropGroup{}
}

// propvals returns a property group's values as name -> "type:value".
func (pg smfPropGroup) propvals() map[string]string {
	m := make(map[string]string)
	for _, p := range pg.Propval {
		m[p.Name] = p.Type + ":" + p.Value
	}
	return m
}

// assertOneDefaultInstance checks for exactly one instance, "default",
// enabled, carrying no configuration of its own.
func assertOneDefaultInstance(t *testing.T, s smfService) {
	t.Helper()
	if s.SingleInstance == nil {
		t.Errorf("%s: no single_instance", s.Name)
	}
	if len(s.Instances) != 1 {
		t.Fatalf("%s: %d instances, want 1", s.Name, len(s.Instances))
	}
	inst := s.Instances[0]
	if inst.Name != "default" || inst.Enabled != "true" {
		t.Errorf("%s: instance %q enabled=%q, want \"default\" enabled=\"true\"", s.Name, inst.Name, inst.Enabled)
	}
	if len(inst.PropertyGroups) != 0 || inst.MethodContext != nil || len(inst.Methods) != 0 {
		t.Errorf("%s: the instance overrides the service's configuration; keep it all on the service", s.Name)
	}
}

// assertMethodPath checks that a start method runs the script the release
// installs from smf/methods.
func assertMethodPath(t *testing.T, m smfMethod, script string) {
	t.Helper()
	want := "/opt/smartdc/binder/smf/methods/" + script
	if m.Exec != want {
		t.Errorf("start exec %q, want %q", m.Exec, want)
	}
	if _, err := os.Stat(filepath.Join(repoRoot(t), "smf", "methods", path.Base(m.Exec))); err != nil {
		t.Errorf("start exec %q has no script in smf/methods: %v", m.Exec, err)
	}
}

func TestBalancerManifest(t *testing.T) {
	skipInShort(t)
	s := loadService(t, "binder-balancer.xml")
	if s.Name != "manta/application/binder-balancer" || s.Type != "service" {
		t.Errorf("service %q type %q, want manta/application/binder-balancer type service", s.Name, s.Type)
	}
	assertOneDefaultInstance(t, s)

	type dep struct{ grouping, restartOn string }
	want := map[string]dep{
		"svc:/milestone/network:default":          {"require_all", "error"},
		"svc:/system/filesystem/local":            {"require_all", "error"},
		"svc:/smartdc/mdata:execute":              {"require_all", "none"},
		"svc:/smartdc/application/config-agent":   {"optional_all", "none"},
		"svc:/manta/application/binder-mksockdir": {"optional_all", "none"},
	}
	got := make(map[string]dep)
	for _, d := range s.Dependencies {
		if d.Type != "service" || len(d.FMRIs) != 1 {
			t.Errorf("dependency %s: type %q with %d FMRIs, want one service", d.Name, d.Type, len(d.FMRIs))
			continue
		}
		got[d.FMRIs[0].Value] = dep{d.Grouping, d.RestartOn}
	}
	if len(got) != len(want) {
		t.Errorf("dependencies %v, want %v", got, want)
	}
	for fmri, w := range want {
		if got[fmri] != w {
			t.Errorf("dependency on %s: %+v, want %+v", fmri, got[fmri], w)
		}
	}

	ctx := s.MethodContext
	if ctx == nil || ctx.Credential == nil {
		t.Fatal("no service-level method_context with a method_credential")
	}
	if ctx.WorkingDirectory != "/tmp" {
		t.Errorf("working_directory %q, want /tmp", ctx.WorkingDirectory)
	}
	if c := ctx.Credential; c.User != "nobody" || c.Group != "nobody" || c.Privileges != "basic,net_privaddr" {
		t.Errorf("credential %+v, want nobody/nobody with basic,net_privaddr", *c)
	}

	start := s.method(t, "start")
	assertMethodPath(t, start, "binder-balancer")
	if start.Timeout != "10" {
		t.Errorf("start timeout %q, want 10", start.Timeout)
	}
	// stop: SIGTERM to the contract; refresh: SIGUSR2, the handover
	// (cmd/bbal handover.go), which keeps the contract from emptying.
	for name, exec := range map[string]string{"stop": ":kill", "refresh": ":kill -USR2"} {
		if m := s.method(t, name); m.Exec != exec || m.Timeout != "30" {
			t.Errorf("%s method %q timeout %q, want %s timeout 30", name, m.Exec, m.Timeout, exec)
		}
	}
	for _, m := range s.Methods {
		if m.Type != "method" || m.Context != nil {
			t.Errorf("exec_method %s: type %q, own context %v; want a plain method", m.Name, m.Type, m.Context != nil)
		}
	}

	// The contract model, which the start method's test relies on.
	if d := s.propGroup(t, "startd").propvals()["duration"]; d != "astring:contract" {
		t.Errorf("startd/duration %q, want astring:contract", d)
	}

	config := s.propGroup(t, "config")
	if config.Type != "application" {
		t.Errorf("config group type %q, want application", config.Type)
	}
	// control_socket, metrics_port and metrics_address are unset: their
	// defaults (the method's) follow config/port.
	wantConfig := map[string]string{
		"address":    "astring:0.0.0.0",
		"port":       "count:53",
		"socket_dir": "astring:" + defaultSocketDir,
		"log_level":  "astring:info",
		"gomaxprocs": "count:2",
	}
	gotConfig := config.propvals()
	if len(gotConfig) != len(wantConfig) {
		t.Errorf("config properties %v, want %v", gotConfig, wantConfig)
	}
	for name, w := range wantConfig {
		if gotConfig[name] != w {
			t.Errorf("config/%s = %q, want %q", name, gotConfig[name], w)
		}
	}

	if s.Template == nil || len(s.Template.CommonName) == 0 || s.Template.CommonName[0] == "" || len(s.Template.DocLinks) == 0 {
		t.Errorf("template lacks a common_name or a doc_link: %+v", s.Template)
	}
}

// zoneServices are the services every Triton zone has: a manifest may
// require them; anything else must be an optional dependency.
var zoneServices = map[string]bool{
	"svc:/milestone/network:default": true,
	"svc:/system/filesystem/local":   true,
	"svc:/smartdc/mdata:execute":     true,
}

func TestDependenciesExistInATritonZone(t *testing.T) {
	skipInShort(t)
	for _, name := range manifestNames {
		s := loadService(t, name)
		for _, d := range s.Dependencies {
			for _, f := range d.FMRIs {
				if d.Grouping != "optional_all" && !zoneServices[f.Value] {
					t.Errorf("%s: dependency %s on %s is %s: a zone without it (Binder's) keeps the service offline; make it optional_all",
						name, d.Name, f.Value, d.Grouping)
				}
			}
		}
	}
}

// binderLogGlob is Binder's logadm entry for the balancer's SMF log.
const binderLogGlob = "/var/svc/log/*binder-balancer*.log"

// TestOnlyTheBalancerMatchesBindersLogGlob: SMF logs svc:/A/B:default to
// /var/svc/log/A-B:default.log; a second service matching Binder's glob
// would be rotated together with the balancer, to one name.
func TestOnlyTheBalancerMatchesBindersLogGlob(t *testing.T) {
	skipInShort(t)
	for _, name := range manifestNames {
		s := loadService(t, name)
		log := "/var/svc/log/" + strings.ReplaceAll(s.Name, "/", "-") + ":default.log"
		matched, err := path.Match(binderLogGlob, log)
		if err != nil {
			t.Fatal(err)
		}
		if want := s.Name == "manta/application/binder-balancer"; matched != want {
			t.Errorf("%s: log %s matched by %s: %v, want %v", name, log, binderLogGlob, matched, want)
		}
	}
}
