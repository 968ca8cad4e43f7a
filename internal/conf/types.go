package conf

import (
	"net/netip"
	"time"
)

// Config is the typed form of a keepalived.conf(5) file as keepalived 2.2.7
// understands it. Blocks keep their file order. Values keepalived would
// reject are left at their defaults and reported in the Diagnostics that
// come with the Config.
type Config struct {
	Global              GlobalDefs            `json:"global_defs"`
	VRRPScripts         []*VRRPScript         `json:"vrrp_scripts,omitempty"`
	VRRPTrackFiles      []*TrackFile          `json:"vrrp_track_files,omitempty"`
	SyncGroups          []*SyncGroup          `json:"vrrp_sync_groups,omitempty"`
	Instances           []*VRRPInstance       `json:"vrrp_instances,omitempty"`
	VirtualServerGroups []*VirtualServerGroup `json:"virtual_server_groups,omitempty"`
	VirtualServers      []*VirtualServer      `json:"virtual_servers,omitempty"`
	// static_ipaddress, static_routes and static_rules: added at start-up
	// and never removed by VRRP.
	StaticIPAddresses []VIP   `json:"static_ipaddress,omitempty"`
	StaticRoutes      []Route `json:"static_routes,omitempty"`
	StaticRules       []Route `json:"static_rules,omitempty"`
	// SSL holds the files SSL_GET checkers use; nil means keepalived
	// generates a context.
	SSL *SSLConfig `json:"ssl,omitempty"`
	// Unsupported holds top-level blocks that keepalived.conf(5) documents
	// but vigil does not act on yet (static_ipaddress, vrrp_track_process,
	// bfd_instance, …), kept so that nothing is silently dropped.
	Unsupported []RawSetting `json:"unsupported,omitempty"`
}

// SSLConfig is the top-level SSL block.
type SSLConfig struct {
	Password    string `json:"password,omitempty"`
	CA          string `json:"ca,omitempty"`
	Certificate string `json:"certificate,omitempty"`
	Key         string `json:"key,omitempty"`
	Pos         Pos    `json:"-"`
}

// RawSetting is a documented keyword that vigil parsed but does not act on
// yet: its keyword, arguments and nested block, as written.
type RawSetting struct {
	Key   string       `json:"key"`
	Args  []string     `json:"args,omitempty"`
	Block []RawSetting `json:"block,omitempty"`
	Pos   Pos          `json:"-"`
}

// Script is a command line for notify scripts and checkers, with the
// optional user and group it runs as (keepalived.conf(5) "SCRIPTS").
type Script struct {
	Cmd   string `json:"cmd"`
	User  string `json:"user,omitempty"`
	Group string `json:"group,omitempty"`
	Pos   Pos    `json:"-"`
}

// GlobalDefs is the global_defs block.
type GlobalDefs struct {
	Pos                   Pos            `json:"-"`
	NotificationEmail     []string       `json:"notification_email,omitempty"`
	NotificationEmailFrom string         `json:"notification_email_from,omitempty"`
	SMTPServer            netip.AddrPort `json:"smtp_server,omitzero"` // an address: keepalived 2.2.7 refuses host names
	SMTPHeloName          string         `json:"smtp_helo_name,omitempty"`
	SMTPConnectTimeout    time.Duration  `json:"smtp_connect_timeout,omitempty"`
	SMTPAlert             *bool          `json:"smtp_alert,omitempty"`
	SMTPAlertVRRP         *bool          `json:"smtp_alert_vrrp,omitempty"`
	SMTPAlertChecker      *bool          `json:"smtp_alert_checker,omitempty"`
	NoEmailFaults         bool           `json:"no_email_faults,omitempty"`
	RouterID              string         `json:"router_id,omitempty"`
	DefaultInterface      string         `json:"default_interface,omitempty"`
	DynamicInterfaces     bool           `json:"dynamic_interfaces,omitempty"`

	VRRPMcastGroup4 netip.Addr `json:"vrrp_mcast_group4,omitzero"`
	VRRPMcastGroup6 netip.Addr `json:"vrrp_mcast_group6,omitzero"`
	VRRPVersion     int        `json:"vrrp_version,omitempty"`
	VRRPStrict      bool       `json:"vrrp_strict,omitempty"`

	VRRPGarpMasterDelay         time.Duration `json:"vrrp_garp_master_delay,omitempty"`
	VRRPGarpMasterRepeat        int           `json:"vrrp_garp_master_repeat,omitempty"`
	VRRPGarpMasterRefresh       time.Duration `json:"vrrp_garp_master_refresh,omitempty"`
	VRRPGarpMasterRefreshRepeat int           `json:"vrrp_garp_master_refresh_repeat,omitempty"`
	VRRPGarpLowerPrioDelay      time.Duration `json:"vrrp_garp_lower_prio_delay,omitempty"`
	VRRPGarpLowerPrioRepeat     int           `json:"vrrp_garp_lower_prio_repeat,omitempty"`
	VRRPGarpInterval            time.Duration `json:"vrrp_garp_interval,omitempty"`
	VRRPGnaInterval             time.Duration `json:"vrrp_gna_interval,omitempty"`
	VRRPMinGarp                 bool          `json:"vrrp_min_garp,omitempty"`
	VRRPLowerPrioNoAdvert       *bool         `json:"vrrp_lower_prio_no_advert,omitempty"`
	VRRPHigherPrioSendAdvert    *bool         `json:"vrrp_higher_prio_send_advert,omitempty"`
	VRRPSkipCheckAdvAddr        bool          `json:"vrrp_skip_check_adv_addr,omitempty"`
	VRRPCheckUnicastSrc         bool          `json:"vrrp_check_unicast_src,omitempty"`
	VRRPStartupDelay            time.Duration `json:"vrrp_startup_delay,omitempty"`

	EnableScriptSecurity bool   `json:"enable_script_security,omitempty"`
	ScriptUser           string `json:"script_user,omitempty"`
	ScriptGroup          string `json:"script_group,omitempty"`

	// NotifyFIFO is notify_fifo (every state change, VRRP and checker)
	// and VRRPNotifyFIFO vrrp_notify_fifo (VRRP only), with their
	// *_fifo_script.
	NotifyFIFO     *FIFO `json:"notify_fifo,omitempty"`
	VRRPNotifyFIFO *FIFO `json:"vrrp_notify_fifo,omitempty"`

	LVSFlush       bool   `json:"lvs_flush,omitempty"`
	LVSFlushOnStop string `json:"lvs_flush_on_stop,omitempty"` // "", "all" or "VS"

	Unsupported []RawSetting `json:"unsupported,omitempty"`
}

// FIFO is "notify_fifo FILE [username [groupname]]" with its
// "notify_fifo_script STRING [username [groupname]]".
type FIFO struct {
	Path   string  `json:"path,omitempty"`
	User   string  `json:"user,omitempty"`
	Group  string  `json:"group,omitempty"`
	Script *Script `json:"script,omitempty"`
	Pos    Pos     `json:"-"`
}

// VRRPScript is a vrrp_script block.
type VRRPScript struct {
	Name          string        `json:"name"`
	Pos           Pos           `json:"-"`
	Script        string        `json:"script"`
	Interval      time.Duration `json:"interval"`
	Timeout       time.Duration `json:"timeout,omitempty"`
	Weight        int           `json:"weight,omitempty"`
	WeightReverse bool          `json:"weight_reverse,omitempty"`
	Rise          int           `json:"rise"`
	Fall          int           `json:"fall"`
	User          string        `json:"user,omitempty"`
	Group         string        `json:"group,omitempty"`
	InitFail      bool          `json:"init_fail,omitempty"`
	Unsupported   []RawSetting  `json:"unsupported,omitempty"`
}

// TrackFile is a vrrp_track_file block.
type TrackFile struct {
	Name          string       `json:"name"`
	Pos           Pos          `json:"-"`
	File          string       `json:"file"`
	Weight        int          `json:"weight"`
	WeightReverse bool         `json:"weight_reverse,omitempty"`
	InitFile      *InitFile    `json:"init_file,omitempty"`
	Unsupported   []RawSetting `json:"unsupported,omitempty"`
}

// InitFile is a track file's init_file [VALUE] [overwrite].
type InitFile struct {
	Value     int  `json:"value"`
	Overwrite bool `json:"overwrite,omitempty"`
}

// TrackRef names a tracked object (interface, script, file) inside an
// instance or sync group, with an optional weight override.
type TrackRef struct {
	Name    string `json:"name"`
	Weight  *int   `json:"weight,omitempty"`
	Reverse bool   `json:"reverse,omitempty"`
	Pos     Pos    `json:"-"`
}

// Notify holds the notify scripts shared by vrrp_instance and vrrp_sync_group.
type Notify struct {
	Master           *Script `json:"notify_master,omitempty"`
	Backup           *Script `json:"notify_backup,omitempty"`
	Fault            *Script `json:"notify_fault,omitempty"`
	Stop             *Script `json:"notify_stop,omitempty"`
	Deleted          *Script `json:"notify_deleted,omitempty"`
	Any              *Script `json:"notify,omitempty"`
	MasterRxLowerPri *Script `json:"notify_master_rx_lower_pri,omitempty"`
	PriorityChanges  *bool   `json:"notify_priority_changes,omitempty"`
}

// SyncGroup is a vrrp_sync_group block.
type SyncGroup struct {
	Name           string       `json:"name"`
	Pos            Pos          `json:"-"`
	Group          []TrackRef   `json:"group"`
	Notify         Notify       `json:"notify,omitzero"`
	TrackInterface []TrackRef   `json:"track_interface,omitempty"`
	TrackScript    []TrackRef   `json:"track_script,omitempty"`
	TrackFile      []TrackRef   `json:"track_file,omitempty"`
	SMTPAlert      *bool        `json:"smtp_alert,omitempty"`
	GlobalTracking bool         `json:"global_tracking,omitempty"`
	TrackingWeight bool         `json:"sync_group_tracking_weight,omitempty"`
	Unsupported    []RawSetting `json:"unsupported,omitempty"`

	hasGroup bool // a group { } block was given, even if empty
}

// State is the initial state of a VRRP instance.
type State int

// Initial states. StateDefault means no state keyword: keepalived starts
// as BACKUP unless the priority is 255.
const (
	StateDefault State = iota
	StateBackup
	StateMaster
)

func (s State) String() string {
	switch s {
	case StateBackup:
		return "BACKUP"
	case StateMaster:
		return "MASTER"
	}
	return ""
}

// MarshalText renders the state as written in keepalived.conf.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// AuthType is a VRRPv2 authentication type (RFC 2338 §5.3.6).
type AuthType int

// Authentication types.
const (
	AuthNone AuthType = iota
	AuthPass
	AuthAH
)

func (a AuthType) String() string {
	switch a {
	case AuthPass:
		return "PASS"
	case AuthAH:
		return "AH"
	}
	return "NONE"
}

// MarshalText renders the type as written in keepalived.conf.
func (a AuthType) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// Authentication is an instance's authentication block.
type Authentication struct {
	Type AuthType `json:"auth_type"`
	Pass string   `json:"auth_pass,omitempty"`
	Pos  Pos      `json:"-"`
}

// VIP is one virtual_ipaddress (or _excluded, or static_ipaddress) line:
// <IPADDR>[/<MASK>] [brd <IPADDR>] [dev <STRING>] [scope <SCOPE>] [label
// <LABEL>] [peer <IPADDR>] [home] [-nodad] [noprefixroute] [autojoin]
// [no_track] [use_vmac] [mngtmpaddr] [preferred_lft nn|forever].
type VIP struct {
	Prefix        netip.Prefix `json:"prefix"`
	Brd           netip.Addr   `json:"brd,omitzero"`
	Peer          netip.Addr   `json:"peer,omitzero"`
	Dev           string       `json:"dev,omitempty"`
	Scope         string       `json:"scope,omitempty"`
	Label         string       `json:"label,omitempty"`
	Home          bool         `json:"home,omitempty"`
	NoDAD         bool         `json:"nodad,omitempty"`
	NoPrefixRoute bool         `json:"noprefixroute,omitempty"`
	MngTmpAddr    bool         `json:"mngtmpaddr,omitempty"`
	AutoJoin      bool         `json:"autojoin,omitempty"`
	NoTrack       bool         `json:"no_track,omitempty"`
	UseVMAC       bool         `json:"use_vmac,omitempty"`
	PreferredLft  string       `json:"preferred_lft,omitempty"`
	TrackGroup    string       `json:"track_group,omitempty"`
	Pos           Pos          `json:"-"`
}

// Route is one virtual_routes line. Dst, Src, Via, Dev, Table, Metric and
// Scope are decoded; the full line is kept in Args for the options vigil
// does not model yet.
type Route struct {
	Type   string       `json:"type,omitempty"` // blackhole, unreachable, prohibit, …
	Dst    netip.Prefix `json:"dst"`
	Src    netip.Addr   `json:"src,omitzero"`
	Via    netip.Addr   `json:"via,omitzero"`
	Or     netip.Addr   `json:"or,omitzero"`
	Dev    string       `json:"dev,omitempty"`
	Table  string       `json:"table,omitempty"`
	Metric uint32       `json:"metric,omitempty"`
	// Priority is a rule's priority/preference; nil when not given.
	Priority *uint32  `json:"priority,omitempty"`
	Scope    string   `json:"scope,omitempty"`
	NoTrack  bool     `json:"no_track,omitempty"`
	Args     []string `json:"args"`
	Pos      Pos      `json:"-"`
}

// UnicastPeer is one unicast_peer entry: <IPADDR> [min_ttl N] [max_ttl N].
type UnicastPeer struct {
	Addr   netip.Addr `json:"addr"`
	MinTTL int        `json:"min_ttl,omitempty"`
	MaxTTL int        `json:"max_ttl,omitempty"`
	Pos    Pos        `json:"-"`
}

// VRRPInstance is a vrrp_instance block.
type VRRPInstance struct {
	Name      string `json:"name"`
	Pos       Pos    `json:"-"`
	State     State  `json:"state,omitempty"`
	Interface string `json:"interface,omitempty"`
	// IfacePos is the position of the interface keyword, for diagnostics.
	IfacePos Pos `json:"-"`
	// VRID is the virtual_router_id; 0 means unset (an error).
	VRID      uint8         `json:"virtual_router_id"`
	Priority  uint8         `json:"priority"`
	AdvertInt time.Duration `json:"advert_int"`
	// Version is 2 or 3; 0 means the global vrrp_version (default 2).
	Version int             `json:"version,omitempty"`
	Auth    *Authentication `json:"authentication,omitempty"`

	VIPs         []VIP   `json:"virtual_ipaddress,omitempty"`
	ExcludedVIPs []VIP   `json:"virtual_ipaddress_excluded,omitempty"`
	Routes       []Route `json:"virtual_routes,omitempty"`
	Rules        []Route `json:"virtual_rules,omitempty"`

	McastSrcIP   netip.Addr    `json:"mcast_src_ip,omitzero"`
	UnicastSrcIP netip.Addr    `json:"unicast_src_ip,omitzero"`
	UnicastPeers []UnicastPeer `json:"unicast_peer,omitempty"`
	UnicastTTL   int           `json:"unicast_ttl,omitempty"`
	McastDstIP   netip.Addr    `json:"mcast_dst_ip,omitzero"`

	TrackInterface   []TrackRef `json:"track_interface,omitempty"`
	TrackScript      []TrackRef `json:"track_script,omitempty"`
	TrackFile        []TrackRef `json:"track_file,omitempty"`
	DontTrackPrimary bool       `json:"dont_track_primary,omitempty"`

	NoPreempt    bool          `json:"nopreempt,omitempty"`
	PreemptDelay time.Duration `json:"preempt_delay,omitempty"`
	// Accept is nil when neither accept nor no_accept is given.
	Accept               *bool   `json:"accept,omitempty"`
	Strict               bool    `json:"strict_mode,omitempty"`
	SkipCheckAdvAddr     *bool   `json:"skip_check_adv_addr,omitempty"`
	CheckUnicastSrc      bool    `json:"check_unicast_src,omitempty"`
	PromoteSecondaries   bool    `json:"promote_secondaries,omitempty"`
	UseVMAC              *string `json:"use_vmac,omitempty"` // interface name, "" for the default vrrp.<VRID>
	SMTPAlert            *bool   `json:"smtp_alert,omitempty"`
	LowerPrioNoAdvert    *bool   `json:"lower_prio_no_advert,omitempty"`
	HigherPrioSendAdvert *bool   `json:"higher_prio_send_advert,omitempty"`

	// GARP settings: nil means the global vrrp_garp_* value.
	GarpMasterDelay         *time.Duration `json:"garp_master_delay,omitempty"`
	GarpMasterRepeat        *int           `json:"garp_master_repeat,omitempty"`
	GarpMasterRefresh       *time.Duration `json:"garp_master_refresh,omitempty"`
	GarpMasterRefreshRepeat *int           `json:"garp_master_refresh_repeat,omitempty"`
	GarpLowerPrioDelay      *time.Duration `json:"garp_lower_prio_delay,omitempty"`
	GarpLowerPrioRepeat     *int           `json:"garp_lower_prio_repeat,omitempty"`

	Notify      Notify       `json:"notify,omitzero"`
	Unsupported []RawSetting `json:"unsupported,omitempty"`

	// family is the address family fixed, as keepalived does, by the
	// first of unicast_src_ip, mcast_src_ip, unicast_peer and
	// virtual_ipaddress to appear: 4 or 6, 0 while unknown.
	family int
	// unicast is set by any unicast keyword, even if no peer survives.
	unicast bool
}

// setFamily fixes the instance's family from a if it is not fixed yet and
// reports whether a matches it.
func (vi *VRRPInstance) setFamily(a netip.Addr) bool {
	fam := 4
	if a.Is6() && !a.Is4In6() {
		fam = 6
	}
	if vi.family == 0 {
		vi.family = fam
	}
	return vi.family == fam
}

// Family returns 4 or 6: the address family of the instance's adverts
// (IPv4 when nothing fixed it).
func (vi *VRRPInstance) Family() int {
	if vi.family == 0 {
		return 4
	}
	return vi.family
}

// VSGMember is one virtual_server_group entry: "<IPADDR>[-<END>] <PORT>",
// or "fwmark <INT>".
type VSGMember struct {
	Addr   netip.Addr `json:"addr,omitzero"`
	End    netip.Addr `json:"end,omitzero"` // last address of a range
	Port   uint16     `json:"port,omitempty"`
	Fwmark uint32     `json:"fwmark,omitempty"`
	Pos    Pos        `json:"-"`
}

// VirtualServerGroup is a virtual_server_group block.
type VirtualServerGroup struct {
	Name    string      `json:"name"`
	Pos     Pos         `json:"-"`
	Members []VSGMember `json:"members"`
}

// LBKind is an LVS forwarding method (lb_kind / lvs_method).
type LBKind int

// Forwarding methods. LBKindDefault means none set (keepalived uses NAT).
const (
	LBKindDefault LBKind = iota
	LBKindNAT
	LBKindDR
	LBKindTUN
)

func (k LBKind) String() string {
	switch k {
	case LBKindNAT:
		return "NAT"
	case LBKindDR:
		return "DR"
	case LBKindTUN:
		return "TUN"
	}
	return ""
}

// MarshalText renders the method as written in keepalived.conf.
func (k LBKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Protocol is a virtual server's transport protocol.
type Protocol int

// Protocols. ProtoDefault means none set (keepalived uses TCP).
const (
	ProtoDefault Protocol = iota
	ProtoTCP
	ProtoUDP
	ProtoSCTP
)

func (p Protocol) String() string {
	switch p {
	case ProtoTCP:
		return "TCP"
	case ProtoUDP:
		return "UDP"
	case ProtoSCTP:
		return "SCTP"
	}
	return ""
}

// MarshalText renders the protocol as written in keepalived.conf.
func (p Protocol) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// SorryServer is a virtual server's sorry_server.
type SorryServer struct {
	Addr    netip.Addr `json:"addr"`
	Port    uint16     `json:"port"`
	Inhibit bool       `json:"inhibit,omitempty"`
	LBKind  LBKind     `json:"lb_kind,omitempty"`
	Pos     Pos        `json:"-"`
}

// CheckerDefaults are the checker timing keywords accepted at virtual
// server, real server and checker level; the innermost one set wins.
type CheckerDefaults struct {
	ConnectTimeout   time.Duration  `json:"connect_timeout,omitempty"`
	Retry            *int           `json:"retry,omitempty"`
	DelayBeforeRetry time.Duration  `json:"delay_before_retry,omitempty"`
	Warmup           *time.Duration `json:"warmup,omitempty"`
	DelayLoop        time.Duration  `json:"delay_loop,omitempty"`
}

// VirtualServer is a virtual_server block: "IP PORT", "fwmark N" or "group NAME".
type VirtualServer struct {
	Pos    Pos        `json:"-"`
	Addr   netip.Addr `json:"addr,omitzero"`
	Port   uint16     `json:"port,omitempty"`
	Fwmark uint32     `json:"fwmark,omitempty"`
	Group  string     `json:"group,omitempty"`

	LBAlgo                 string        `json:"lb_algo,omitempty"`
	SchedFlags             []string      `json:"sched_flags,omitempty"`
	LBKind                 LBKind        `json:"lb_kind,omitempty"`
	Protocol               Protocol      `json:"protocol,omitempty"`
	IPFamily               int           `json:"ip_family,omitempty"`
	PersistenceTimeout     time.Duration `json:"persistence_timeout,omitempty"`
	PersistenceGranularity string        `json:"persistence_granularity,omitempty"`
	PersistenceEngine      string        `json:"persistence_engine,omitempty"`
	HASuspend              bool          `json:"ha_suspend,omitempty"`
	Virtualhost            string        `json:"virtualhost,omitempty"`
	Alpha                  bool          `json:"alpha,omitempty"`
	Omega                  bool          `json:"omega,omitempty"`
	Quorum                 uint32        `json:"quorum"`
	// Weight is the virtual server's "weight": the weight of the
	// real_servers that follow it and set none (default 1).
	Weight           *int         `json:"weight,omitempty"`
	Hysteresis       uint32       `json:"hysteresis,omitempty"`
	QuorumUp         *Script      `json:"quorum_up,omitempty"`
	QuorumDown       *Script      `json:"quorum_down,omitempty"`
	SorryServer      *SorryServer `json:"sorry_server,omitempty"`
	InhibitOnFailure bool         `json:"inhibit_on_failure,omitempty"`
	SMTPAlert        *bool        `json:"smtp_alert,omitempty"`
	CheckerDefaults
	RealServers []*RealServer `json:"real_servers,omitempty"`
	Unsupported []RawSetting  `json:"unsupported,omitempty"`
}

// RealServer is a real_server block.
type RealServer struct {
	Pos              Pos        `json:"-"`
	Addr             netip.Addr `json:"addr"`
	Port             uint16     `json:"port,omitempty"`
	Weight           int        `json:"weight"`
	LBKind           LBKind     `json:"lb_kind,omitempty"`
	NotifyUp         *Script    `json:"notify_up,omitempty"`
	NotifyDown       *Script    `json:"notify_down,omitempty"`
	UThreshold       uint32     `json:"uthreshold,omitempty"`
	LThreshold       uint32     `json:"lthreshold,omitempty"`
	InhibitOnFailure *bool      `json:"inhibit_on_failure,omitempty"`
	Virtualhost      string     `json:"virtualhost,omitempty"`
	Alpha            bool       `json:"alpha,omitempty"`
	SMTPAlert        *bool      `json:"smtp_alert,omitempty"`
	CheckerDefaults
	Checkers    []*Checker   `json:"checkers,omitempty"`
	Unsupported []RawSetting `json:"unsupported,omitempty"`
}

// CheckerType names a real server health checker block.
type CheckerType string

// Checker types, spelled as the block keywords.
const (
	HTTPGet   CheckerType = "HTTP_GET"
	SSLGet    CheckerType = "SSL_GET"
	TCPCheck  CheckerType = "TCP_CHECK"
	SMTPCheck CheckerType = "SMTP_CHECK"
	MiscCheck CheckerType = "MISC_CHECK"
	DNSCheck  CheckerType = "DNS_CHECK"
	PingCheck CheckerType = "PING_CHECK"
	UDPCheck  CheckerType = "UDP_CHECK"
	FileCheck CheckerType = "FILE_CHECK"
	BFDCheck  CheckerType = "BFD_CHECK"
)

// Checker is one health checker of a real server. The common keywords
// apply to every type; the others only to the type named in their comment.
type Checker struct {
	Type CheckerType `json:"type"`
	Pos  Pos         `json:"-"`

	ConnectIP      netip.Addr `json:"connect_ip,omitzero"`
	ConnectPort    uint16     `json:"connect_port,omitempty"`
	BindTo         netip.Addr `json:"bindto,omitzero"`
	BindPort       uint16     `json:"bind_port,omitempty"`
	BindIf         string     `json:"bind_if,omitempty"`
	Fwmark         uint32     `json:"fwmark,omitempty"`
	Alpha          *bool      `json:"alpha,omitempty"`
	LogAllFailures *bool      `json:"log_all_failures,omitempty"`
	CheckerDefaults

	// HTTP_GET, SSL_GET
	URLs         []URL  `json:"urls,omitempty"`
	HTTPProtocol string `json:"http_protocol,omitempty"`
	FastRecovery bool   `json:"fast_recovery,omitempty"`
	EnableSNI    bool   `json:"enable_sni,omitempty"`
	Virtualhost  string `json:"virtualhost,omitempty"`
	// SMTP_CHECK
	HeloName string `json:"helo_name,omitempty"`
	// DNS_CHECK
	DNSType string `json:"dns_type,omitempty"`
	DNSName string `json:"dns_name,omitempty"`
	// MISC_CHECK
	MiscPath    *Script       `json:"misc_path,omitempty"`
	MiscTimeout time.Duration `json:"misc_timeout,omitempty"`
	MiscDynamic bool          `json:"misc_dynamic,omitempty"`

	Unsupported []RawSetting `json:"unsupported,omitempty"`
}

// StatusRange is an inclusive HTTP status code range.
type StatusRange struct {
	From int `json:"from"`
	To   int `json:"to"`
}

// URL is an HTTP_GET/SSL_GET url block.
type URL struct {
	Pos            Pos           `json:"-"`
	Path           string        `json:"path"`
	Digest         string        `json:"digest,omitempty"`
	StatusCode     []StatusRange `json:"status_code,omitempty"`
	Virtualhost    string        `json:"virtualhost,omitempty"`
	Regex          string        `json:"regex,omitempty"`
	RegexNoMatch   bool          `json:"regex_no_match,omitempty"`
	RegexOptions   []string      `json:"regex_options,omitempty"`
	RegexMinOffset int           `json:"regex_min_offset,omitempty"`
	RegexMaxOffset int           `json:"regex_max_offset,omitempty"`
	Unsupported    []RawSetting  `json:"unsupported,omitempty"`
}
