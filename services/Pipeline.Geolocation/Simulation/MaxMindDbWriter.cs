using System.Net;
using System.Text;

namespace Pipeline.Geolocation.Simulation;

/// <summary>
/// Writes MaxMind DB format 2.0 files (https://maxmind.github.io/MaxMind-DB/): an IPv6 binary search tree with
/// 32-bit records (IPv4 networks live under ::/96, as in GeoLite2), a data section and the metadata. Enough for the
/// GeoLite2-ASN and GeoLite2-Country layouts: maps, strings, unsigned integers, doubles, booleans and arrays.
/// Used by the tests, the benchmark and simulated worlds, which need databases covering the documentation ranges.
/// Networks may nest: a more specific network inserted later carves its part out of a broader one.
/// </summary>
public sealed class MaxMindDbWriter(string databaseType, string description = "synthetic test database")
{
    private sealed class Node
    {
        public object? Left; // Node, DataRef or null (no data)
        public object? Right;
    }

    private sealed record DataRef(int Offset);

    private readonly Node root = new();
    private readonly List<byte> data = [];
    private readonly Dictionary<string, DataRef> dedupe = new(StringComparer.Ordinal);

    public DateTimeOffset BuildTime { get; set; } = DateTimeOffset.UnixEpoch.AddSeconds(1_767_225_600);

    /// <summary>Adds a network (e.g. "192.0.2.0/24", "2001:db8::/32") with its record (a map of strings to
    /// string, long/int/uint, double, bool, arrays or nested maps). Insert broader networks before narrower ones.</summary>
    public MaxMindDbWriter Add(string cidr, IReadOnlyDictionary<string, object> record)
    {
        var network = IPNetwork.Parse(cidr);
        var bytes = network.BaseAddress.GetAddressBytes();
        var prefix = network.PrefixLength;
        if (bytes.Length == 4)
        {
            bytes = new byte[12].Concat(bytes).ToArray(); // ::a.b.c.d
            prefix += 96;
        }
        var encoded = Encode(record);
        var key = Convert.ToBase64String(encoded);
        if (!dedupe.TryGetValue(key, out var reference))
        {
            reference = new DataRef(data.Count);
            data.AddRange(encoded);
            dedupe[key] = reference;
        }
        Insert(bytes, prefix, reference);
        return this;
    }

    private void Insert(byte[] address, int prefix, DataRef value)
    {
        var node = root;
        for (var depth = 0; depth < prefix; depth++)
        {
            var right = ((address[depth >> 3] >> (7 - (depth & 7))) & 1) == 1;
            var last = depth == prefix - 1;
            var child = right ? node.Right : node.Left;
            if (last)
            {
                if (right) node.Right = value; else node.Left = value;
                return;
            }
            if (child is not Node next)
            {
                // Empty or a broader network's data: split, the broader data going on both sides below.
                next = new Node { Left = child, Right = child };
                if (right) node.Right = next; else node.Left = next;
            }
            node = next;
        }
        throw new ArgumentException("prefix length 0 is not supported");
    }

    public byte[] Build()
    {
        // Number the nodes breadth-first.
        var nodes = new List<Node>();
        var queue = new Queue<Node>();
        queue.Enqueue(root);
        var ids = new Dictionary<Node, int>(ReferenceEqualityComparer.Instance);
        while (queue.Count > 0)
        {
            var n = queue.Dequeue();
            ids[n] = nodes.Count;
            nodes.Add(n);
            if (n.Left is Node l) queue.Enqueue(l);
            if (n.Right is Node r) queue.Enqueue(r);
        }
        var count = nodes.Count;
        uint Record(object? child) => child switch
        {
            Node n => (uint)ids[n],
            DataRef d => (uint)(count + 16 + d.Offset),
            _ => (uint)count,
        };
        using var output = new MemoryStream();
        Span<byte> word = stackalloc byte[4];
        foreach (var n in nodes)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(word, Record(n.Left));
            output.Write(word);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(word, Record(n.Right));
            output.Write(word);
        }
        output.Write(new byte[16]); // data section separator
        output.Write(data.ToArray(), 0, data.Count);
        output.Write([0xAB, 0xCD, 0xEF]);
        output.Write(Encoding.ASCII.GetBytes("MaxMind.com"));
        output.Write(Encode(new Dictionary<string, object>
        {
            ["binary_format_major_version"] = (ushort)2,
            ["binary_format_minor_version"] = (ushort)0,
            ["build_epoch"] = (ulong)BuildTime.ToUnixTimeSeconds(),
            ["database_type"] = databaseType,
            ["description"] = new Dictionary<string, object> { ["en"] = description },
            ["ip_version"] = (ushort)6,
            ["languages"] = new object[] { "en" },
            ["node_count"] = (uint)count,
            ["record_size"] = (ushort)32,
        }));
        return output.ToArray();
    }

    /// <summary>Writes to a temporary file beside <paramref name="path"/> and renames it over, as geoipupdate does.</summary>
    public void WriteTo(string path)
    {
        var temp = path + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        File.WriteAllBytes(temp, Build());
        File.Move(temp, path, overwrite: true);
    }

    // ---- data section encoding ----

    private static byte[] Encode(object value)
    {
        using var s = new MemoryStream();
        Write(s, value);
        return s.ToArray();
    }

    private static void Write(Stream s, object value)
    {
        switch (value)
        {
            case string text:
                var utf8 = Encoding.UTF8.GetBytes(text);
                Control(s, 2, utf8.Length);
                s.Write(utf8);
                break;
            case double d:
                Control(s, 3, 8);
                var db = BitConverter.GetBytes(d);
                if (BitConverter.IsLittleEndian) Array.Reverse(db);
                s.Write(db);
                break;
            case bool b:
                Control(s, 14, b ? 1 : 0);
                break;
            case int i when i >= 0:
                Unsigned(s, 6, (ulong)i, 4);
                break;
            case int i:
                Unsigned(s, 8, unchecked((uint)i), 4); // int32
                break;
            case ushort us:
                Unsigned(s, 5, us, 2);
                break;
            case uint u:
                Unsigned(s, 6, u, 4);
                break;
            case long l when l is >= 0 and <= uint.MaxValue:
                Unsigned(s, 6, (ulong)l, 4);
                break;
            case long l when l >= 0:
                Unsigned(s, 9, (ulong)l, 8);
                break;
            case ulong ul:
                Unsigned(s, 9, ul, 8);
                break;
            case IReadOnlyDictionary<string, object> map:
                Control(s, 7, map.Count);
                foreach (var (k, v) in map)
                {
                    Write(s, k);
                    Write(s, v);
                }
                break;
            case IEnumerable<object> array:
                var items = array.ToList();
                Control(s, 11, items.Count);
                foreach (var item in items) Write(s, item);
                break;
            default:
                throw new ArgumentException($"cannot encode {value.GetType().Name} in a MaxMind DB");
        }
    }

    private static void Unsigned(Stream s, int type, ulong value, int maxBytes)
    {
        var bytes = new List<byte>();
        for (var v = value; v != 0; v >>= 8) bytes.Insert(0, (byte)(v & 0xFF));
        if (bytes.Count > maxBytes) throw new ArgumentException("value too large");
        Control(s, type, bytes.Count);
        s.Write(bytes.ToArray());
    }

    /// <summary>The control byte: type in the top 3 bits (0 = extended, then type − 7 in the next byte), size in the low 5.</summary>
    private static void Control(Stream s, int type, int size)
    {
        var extended = type > 7;
        var first = (byte)((extended ? 0 : type) << 5);
        byte[] extra;
        if (size < 29) { first |= (byte)size; extra = []; }
        else if (size < 29 + 256) { first |= 29; extra = [(byte)(size - 29)]; }
        else if (size < 285 + 65536) { first |= 30; var v = size - 285; extra = [(byte)(v >> 8), (byte)v]; }
        else { first |= 31; var v = size - 65821; extra = [(byte)(v >> 16), (byte)(v >> 8), (byte)v]; }
        s.WriteByte(first);
        if (extended) s.WriteByte((byte)(type - 7));
        s.Write(extra);
    }

    // ---- the two layouts the locator reads ----

    public static Dictionary<string, object> AsnRecord(long asn, string organisation) => new()
    {
        ["autonomous_system_number"] = asn,
        ["autonomous_system_organization"] = organisation,
    };

    public static Dictionary<string, object> CountryRecord(string isoCode, string name, string continent = "EU") => new()
    {
        ["continent"] = new Dictionary<string, object> { ["code"] = continent, ["names"] = new Dictionary<string, object> { ["en"] = continent } },
        ["country"] = new Dictionary<string, object>
        {
            ["geoname_id"] = 1u, ["is_in_european_union"] = continent == "EU", ["iso_code"] = isoCode,
            ["names"] = new Dictionary<string, object> { ["en"] = name },
        },
        ["registered_country"] = new Dictionary<string, object> { ["iso_code"] = isoCode, ["names"] = new Dictionary<string, object> { ["en"] = name } },
    };
}
