using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using Pipeline.Platform;

namespace Pipeline.Operations.Tests;

/// <summary>Maps a configuration key (Section__Key__… as an environment variable) to the options property it sets,
/// by reflection over the options classes (those with <c>public const string Section</c>) of the platform and a
/// service, the way Microsoft.Extensions.Configuration's binder walks them.</summary>
internal sealed class OptionKeys
{
    private readonly List<(string[] Section, Type Type)> sections;

    public OptionKeys(params Assembly[] assemblies) =>
        sections = assemblies.Prepend(typeof(KafkaOptions).Assembly).Distinct()
            .SelectMany(a => a.GetTypes())
            .Select(t => (Type: t, Field: t.GetField("Section", BindingFlags.Public | BindingFlags.Static)))
            .Where(x => x.Field is { IsLiteral: true } && x.Field.FieldType == typeof(string))
            .Select(x => (((string)x.Field!.GetRawConstantValue()!).Split(':'), x.Type))
            .OrderByDescending(s => s.Item1.Length)
            .ToList();

    public IEnumerable<Type> OptionTypes => sections.Select(s => s.Type);

    /// <summary>Null when <paramref name="key"/> sets a property that can take <paramref name="value"/>; else why not.
    /// A null value is one supplied at run time (a Kubernetes Secret): only the key is checked.</summary>
    public string? Problem(string key, string? value)
    {
        var path = key.Split("__");
        var match = sections.FirstOrDefault(s => s.Section.Length <= path.Length
            && s.Section.Zip(path).All(p => string.Equals(p.First, p.Second, StringComparison.OrdinalIgnoreCase)));
        if (match.Type is null) return $"{key}: no options class has section '{path[0]}'";
        var type = match.Type;
        var at = string.Join(":", match.Section);
        foreach (var segment in path.Skip(match.Section.Length))
        {
            at += ":" + segment;
            if (Dictionary(type) is { } valueType) { type = valueType; continue; }
            if (Element(type) is { } elementType)
            {
                if (!int.TryParse(segment, NumberStyles.None, CultureInfo.InvariantCulture, out _)) return $"{key}: {at} must be a list index";
                type = elementType;
                continue;
            }
            var property = type.GetProperty(segment, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
            if (property is null || !property.CanWrite && !property.PropertyType.IsClass)
                return $"{key}: {type.Name} has no settable property '{segment}'";
            type = property.PropertyType;
        }
        var scalar = Nullable.GetUnderlyingType(type) ?? type;
        if (scalar != typeof(string) && (Dictionary(scalar) is not null || Element(scalar) is not null || !TypeDescriptor.GetConverter(scalar).CanConvertFrom(typeof(string))))
            return $"{key}: {at} is a {scalar.Name}, not a single value";
        if (value is null) return null;
        try
        {
            _ = TypeDescriptor.GetConverter(scalar).ConvertFromInvariantString(value);
            return null;
        }
        catch (Exception e) when (e is FormatException or NotSupportedException or ArgumentException)
        {
            return $"{key}: '{value}' is not a {scalar.Name} ({e.Message})";
        }
    }

    private static Type? Dictionary(Type t) =>
        t.IsGenericType && t.GetGenericArguments().Length == 2 && typeof(IDictionary).IsAssignableFrom(t) ? t.GetGenericArguments()[1] : null;

    private static Type? Element(Type t) =>
        t.IsArray ? t.GetElementType()
        : t.IsGenericType && t.GetGenericArguments().Length == 1 && typeof(IEnumerable).IsAssignableFrom(t) && t != typeof(string) ? t.GetGenericArguments()[0]
        : null;
}
